"""Uncertainty sampling: query the pair whose outcome the posterior is least sure about (oat's
"uncertainty" exploration). Pure information seeking, blind to how good the pair is."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from sealign.exploration.base import Pair
from sealign.exploration.epistemic_explorer import EpistemicExplorer, build_epistemic
from sealign.exploration.rules import argmax_pair, win_prob_variance


def select_pair(rewards: Tensor, rng: np.random.Generator | None = None) -> Pair:
    """``rewards [K, M]`` -> ``argmax_{i < j} Var_k[ sigmoid(r_k(i) - r_k(j)) ]`` (first on ties)."""
    return argmax_pair(win_prob_variance(rewards))


def build(config, policy=None) -> EpistemicExplorer:
    return build_epistemic(config, policy, select_pair)
