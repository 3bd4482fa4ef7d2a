"""Passive exploration: a uniformly random pair of the M candidates (online DPO / OAIF).

``passive`` draws among the pairs of *distinct* texts: two identical responses make a question whose
answer is known (a tie, never learned from), so asking it would only spend the budget. When every
candidate of a prompt reads the same, the prompt is skipped (no query). ``passive-any`` is the old
control, a random *index* pair that may be two identical texts; it is kept to reproduce earlier runs
and to measure what the duplicates cost (bench/results/sample_efficiency.md).
"""

from __future__ import annotations

import itertools

import numpy as np
from torch import Tensor

from sealign.exploration.base import Pair, Query, queries_of
from sealign.exploration.rules import random_pair
from sealign.exploration.settings import ExplorationSettings
from sealign.records.types import Candidate, Comparison


def select_pair(rewards: Tensor, rng: np.random.Generator) -> Pair:
    """``rewards [K, M]`` -> a uniformly random pair; the rewards are ignored (the control)."""
    return random_pair(rewards.shape[1], rng)


def random_distinct_pair(texts: list[str], rng: np.random.Generator) -> Pair | None:
    """A pair drawn uniformly among the index pairs (i < j) whose texts differ; None when all are equal."""
    pairs = [(i, j) for i, j in itertools.combinations(range(len(texts)), 2) if texts[i] != texts[j]]
    if not pairs:
        return None
    return pairs[int(rng.integers(len(pairs)))]


class PassiveExplorer:
    """A random pair of distinct texts per prompt (``distinct``), or any random index pair."""

    def __init__(self, distinct: bool = True):
        self.distinct = distinct

    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[list[Query]]:
        if self.distinct:
            pairs = [random_distinct_pair([c.text for c in group], rng) for group in candidates]
        else:
            pairs = [random_pair(len(group), rng) for group in candidates]
        return queries_of(candidates, pairs)

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        return {}


def build(config: ExplorationSettings, policy=None) -> PassiveExplorer:
    return PassiveExplorer(distinct=True)


def build_any(config: ExplorationSettings, policy=None) -> PassiveExplorer:
    return PassiveExplorer(distinct=False)
