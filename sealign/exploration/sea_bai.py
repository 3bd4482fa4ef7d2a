"""SEA BAI: Thompson sampling for best-arm identification (Liu et al. 2024, SEA; oat's ``EnnBAITS``).

The first response is a posterior sample's best (a candidate for the optimum); the second is the
one whose comparison with it the posterior is least sure about, so each answer is spent on the
question "is y1 really the best?", not on keeping the queried pair good.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from torch import Tensor

from sealign.exploration.base import Pair
from sealign.exploration.epistemic_explorer import EpistemicExplorer, build_epistemic
from sealign.exploration.rules import UNCERTAINTIES


def select_pair(rewards: Tensor, rng: np.random.Generator, uncertainty: str = "prob") -> Pair:
    """``rewards [K, M]`` -> (y1, y2): ``y1 = argmax_y r_k(y)`` for one head ``k ~ U{1..K}`` drawn
    by ``rng``; ``y2 = argmax_{y != y1} Var_k[ sigmoid(r_k(y1) - r_k(y)) ]`` (first on ties), or
    ``Var_k[ r_k(y1) - r_k(y) ]`` with ``uncertainty="logit"`` (oat's ``EnnBAITS``)."""
    k = int(rng.integers(rewards.shape[0]))
    y1 = int(rewards[k].argmax())
    variance = UNCERTAINTIES[uncertainty](rewards)[y1].clone()
    variance[y1] = -float("inf")
    return y1, int(variance.argmax())


def build(config, policy=None) -> EpistemicExplorer:
    return build_epistemic(config, policy, partial(select_pair, uncertainty=config.explore_uncertainty))
