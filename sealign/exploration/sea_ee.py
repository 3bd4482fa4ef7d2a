"""SEA E&E: Thompson sampling for exploration *and* exploitation (Liu et al. 2024, SEA; oat's ``EnnEETS``).

Both responses of the pair are what a posterior sample would play: the regret of the queried pair
stays low while the disagreement between samples still drives exploration.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from sealign.exploration.base import Pair
from sealign.exploration.epistemic_explorer import EpistemicExplorer, build_epistemic
from sealign.exploration.rules import random_other


def select_pair(rewards: Tensor, rng: np.random.Generator, max_tries: int = 20,
                fallback: str = "random") -> Pair:
    """``rewards [K, M]`` -> (y1, y2), y1 != y2.

    Heads are visited in a random order ``pi = rng.permutation(K)``: ``y1 = argmax_y r_pi[0](y)``;
    ``y2 = argmax_y r_pi[t](y)`` for the first ``t = 1 .. max_tries`` whose argmax differs from
    ``y1`` (resampling the second head without replacement). If every tried head agrees with y1,
    ``y2`` is a uniformly random other candidate (``fallback='random'``) or the runner-up of the
    last tried head (``fallback='second-best'``).
    """
    num_heads, num_candidates = rewards.shape
    order = rng.permutation(num_heads)
    y1 = int(rewards[order[0]].argmax())
    for k in order[1: 1 + max_tries]:
        y2 = int(rewards[k].argmax())
        if y2 != y1:
            return y1, y2
    if fallback == "second-best":
        scores = rewards[order[min(max_tries, num_heads - 1)]].clone()
        scores[y1] = -float("inf")
        return y1, int(scores.argmax())
    return y1, random_other(num_candidates, y1, rng)


def build(config, policy=None) -> EpistemicExplorer:
    tries, fallback = config.explore_resample_tries, config.explore_fallback
    return build_epistemic(config, policy, lambda r, rng: select_pair(r, rng, tries, fallback))
