"""Passive exploration: a uniformly random pair of the M candidates (online DPO / OAIF)."""

from __future__ import annotations

import numpy as np

from sealign.exploration.base import Pair
from sealign.types import Candidate, Comparison


class PassiveExplorer:
    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[Pair | None]:
        pairs: list[Pair | None] = []
        for group in candidates:
            i, j = rng.choice(len(group), size=2, replace=False)
            pairs.append((int(i), int(j)))
        return pairs

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        return {}


def build(config, policy=None) -> PassiveExplorer:
    return PassiveExplorer()
