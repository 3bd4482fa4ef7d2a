"""Passive exploration: a uniformly random pair of the M candidates (online DPO / OAIF)."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from sealign.exploration.base import Pair, Query, queries_of
from sealign.exploration.rules import random_pair
from sealign.types import Candidate, Comparison


def select_pair(rewards: Tensor, rng: np.random.Generator) -> Pair:
    """``rewards [K, M]`` -> a uniformly random pair; the rewards are ignored (the control)."""
    return random_pair(rewards.shape[1], rng)


class PassiveExplorer:
    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[list[Query]]:
        return queries_of(candidates, [random_pair(len(group), rng) for group in candidates])

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        return {}


def build(config, policy=None) -> PassiveExplorer:
    return PassiveExplorer()
