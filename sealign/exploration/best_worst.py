"""Best-vs-worst of n (Dong et al. 2024, RLHFlow Algorithm 2; Asghari et al.'s (highest, lowest) pairs).

The reward estimate here is the epistemic ensemble's mean, learned online from the same answers.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from sealign.exploration.base import Pair
from sealign.exploration.epistemic_explorer import EpistemicExplorer, build_epistemic


def select_pair(rewards: Tensor, rng: np.random.Generator | None = None) -> Pair | None:
    """``rewards [K, M]`` -> (argmax, argmin) of the mean ``mean_k r_k(y)``; ``None`` when the best
    and worst tie (all candidates score alike: no informative pair, skip the prompt)."""
    mean = rewards.mean(0)
    best, worst = int(mean.argmax()), int(mean.argmin())
    if mean[best] == mean[worst]:
        return None
    return best, worst


def build(config, policy=None) -> EpistemicExplorer:
    return build_epistemic(config, policy, select_pair)
