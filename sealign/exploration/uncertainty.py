"""Uncertainty sampling: query the pair whose outcome the posterior is least sure about (oat's
"uncertainty" exploration). Pure information seeking, blind to how good the pair is.

The spread is that of the win probability sigmoid(r(i) - r(j)) over heads (docs/exploration.md, "Which
uncertainty"); oat uses the spread of the margin r(i) - r(j) itself, ``--explore-uncertainty logit``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from torch import Tensor

from sealign.exploration.base import Pair
from sealign.exploration.epistemic_explorer import EpistemicExplorer, build_epistemic
from sealign.exploration.rules import UNCERTAINTIES, argmax_pair


def select_pair(rewards: Tensor, rng: np.random.Generator | None = None, uncertainty: str = "prob") -> Pair:
    """``rewards [K, M]`` -> ``argmax_{i < j} Var_k[ sigmoid(r_k(i) - r_k(j)) ]`` (first on ties);
    ``uncertainty="logit"``: ``Var_k[ r_k(i) - r_k(j) ]``."""
    return argmax_pair(UNCERTAINTIES[uncertainty](rewards))


def build(config, policy=None) -> EpistemicExplorer:
    return build_epistemic(config, policy, partial(select_pair, uncertainty=config.explore_uncertainty))
