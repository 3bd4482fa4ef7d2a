"""Double reverse Thompson sampling (DRTS; Melikidze et al. 2026, ActiveUltraFeedback, arXiv 2603.09692).

A gap-seeking rule: the first response is the best under one posterior sample, the second the
*worst* under another, so the pair tends to have a large quality gap (a clear, low-noise answer)
while the disagreement between samples still explores. SEA's rules seek the pairs the posterior is
unsure about; this one seeks the pairs it expects to differ most.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from sealign.exploration.base import Pair
from sealign.exploration.epistemic_explorer import EpistemicExplorer, build_epistemic
from sealign.exploration.rules import random_other


def select_pair(rewards: Tensor, rng: np.random.Generator, max_tries: int = 20) -> Pair:
    """``rewards [K, M]`` -> (y1, y2), y1 != y2.

    Heads in a random order ``pi``: ``y1 = argmax_y r_pi[0](y)``; ``y2 = argmin_y r_pi[t](y)`` for the
    first ``t = 1 .. max_tries`` whose argmin differs from ``y1`` (with a single head, that head's
    argmin). If every tried head's worst is ``y1``, ``y2`` is a uniformly random other candidate.
    """
    num_heads, num_candidates = rewards.shape
    order = rng.permutation(num_heads)
    y1 = int(rewards[order[0]].argmax())
    for k in (order[1: 1 + max_tries] if num_heads > 1 else order[:1]):
        y2 = int(rewards[k].argmin())
        if y2 != y1:
            return y1, y2
    return y1, random_other(num_candidates, y1, rng)


def build(config, policy=None) -> EpistemicExplorer:
    tries = config.explore_resample_tries
    return build_epistemic(config, policy, lambda r, rng: select_pair(r, rng, tries))
