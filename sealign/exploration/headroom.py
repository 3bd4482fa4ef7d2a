"""Reference arms that see the task's true reward: what a pair choice could save at best, on a task.

Not explorers a user would run (a real oracle's reward is unknown: that is why it is asked), but
bounds for the study: ``headroom-max-gap`` asks about the pair of largest true reward gap (the
clearest answer), ``headroom-coin-flip`` about the pair nearest a coin flip under a Bradley-Terry
oracle (the smallest gap between two distinct texts: the least predictable answer). If neither
beats a random pair by much, no learned rule can on that task. The reward function is given by the
assembly (``sealign/run/explorer_inputs.py``), as explorers import no task.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from sealign.errors import ConfigError
from sealign.exploration.base import Pair, Query, queries_of
from sealign.exploration.settings import ExplorationSettings
from sealign.records.types import Candidate, Comparison

RewardFn = Callable[[str, str], "float | None"]


def extreme_gap_pair(texts: list[str], rewards: list[float], largest: bool) -> Pair | None:
    """Among the pairs (i < j) of distinct texts, the one of largest (or smallest) ``|r_i - r_j|``;
    the first one on ties; None when every text is the same."""
    pairs = [(i, j) for i, j in itertools.combinations(range(len(texts)), 2) if texts[i] != texts[j]]
    if not pairs:
        return None
    gap = [abs(rewards[i] - rewards[j]) for i, j in pairs]
    pick = max if largest else min
    return pairs[gap.index(pick(gap))]


class TrueRewardReference:
    """Picks each prompt's pair by the true reward of its candidates (``largest``: max gap, else min)."""

    def __init__(self, reward_fn: RewardFn, largest: bool):
        self.reward_fn, self.largest = reward_fn, largest

    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[list[Query]]:
        pairs = []
        for group in candidates:
            rewards = [self.reward_fn(c.prompt.text, c.text) for c in group]
            if any(r is None for r in rewards):
                pairs.append(None)  # the task cannot judge this prompt: nothing to bound
                continue
            pairs.append(extreme_gap_pair([c.text for c in group], [float(r) for r in rewards], self.largest))
        return queries_of(candidates, pairs)

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        return {}


def _reference(largest: bool):
    def build(config: ExplorationSettings, policy=None, reward_fn: RewardFn | None = None) -> TrueRewardReference:
        if reward_fn is None:
            raise ConfigError("the headroom reference arms need the task's true reward (given by the assembly)")
        return TrueRewardReference(reward_fn, largest)
    return build


build_max_gap = _reference(largest=True)
build_coin_flip = _reference(largest=False)
