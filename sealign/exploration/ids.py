"""Information-directed sampling over pairs (Asghari et al. 2026 sec. 4.3.4 names it; the text is cut before
the details, so this is our documented approximation; see docs/exploration.md).

Russo & Van Roy's information ratio, restricted to deterministic pairs: choose the pair whose
squared expected regret per unit of information is smallest. A pair is worth asking about when
it is both likely near-optimal (small regret) and uncertain (large information gain).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sealign.exploration.base import Pair
from sealign.exploration.epistemic_explorer import EpistemicExplorer, build_epistemic
from sealign.exploration.rules import win_prob_variance

MIN_GAIN = 1e-12


def information_ratio(rewards: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``rewards [K, M]`` -> ``(ratio, regret, gain)``, each ``[M, M]``.

    ``regret[i, j] = mean_k[ max_y r_k(y) - (r_k(i) + r_k(j)) / 2 ]`` (expected regret of playing
    the pair, the optimum being uncertain too); ``gain[i, j] = Var_k[ sigmoid(r_k(i) - r_k(j)) ]``
    (information about the answer, as in ``uncertainty``); ``ratio = regret^2 / gain``, with gain
    clamped at 1e-12 so that a pair nobody doubts is chosen only when no pair is informative.
    """
    best = rewards.max(1, keepdim=True).values  # [K, 1]
    regret = (best[:, :, None] - (rewards[:, :, None] + rewards[:, None, :]) / 2).mean(0)
    gain = win_prob_variance(rewards)
    return regret.pow(2) / gain.clamp_min(MIN_GAIN), regret, gain


def select_pair(rewards: Tensor, rng: np.random.Generator | None = None) -> Pair:
    """``rewards [K, M]`` -> ``argmin_{i < j} Delta_ij^2 / g_ij`` (first on ties)."""
    ratio, _, _ = information_ratio(rewards)
    m = ratio.shape[0]
    i, j = torch.triu_indices(m, m, offset=1)
    best = int(torch.argmin(ratio[i, j]))
    return int(i[best]), int(j[best])


def build(config, policy=None) -> EpistemicExplorer:
    return build_epistemic(config, policy, select_pair)
