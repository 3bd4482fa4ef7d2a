"""DeltaUCB (Melikidze et al. 2026, ActiveUltraFeedback, arXiv 2603.09692): the pair with the largest
optimistic quality gap.

With the ensemble's mean ``mu`` and spread ``sigma`` of each candidate's reward, the upper bound of
the gap ``r(i) - r(j)`` is ``(mu_i + beta sigma_i) - (mu_j - beta sigma_j)``; the rule asks about the
pair that maximises it. Gap-seeking like DRTS, deterministic, with ``beta`` trading the expected gap
against the uncertainty about it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sealign.exploration.base import Pair
from sealign.exploration.epistemic_explorer import EpistemicExplorer, build_epistemic

BETA = 1.0


def gap_upper_bounds(rewards: Tensor, beta: float = BETA) -> Tensor:
    """``rewards [K, M]`` -> ``U [M, M]``, ``U[i, j] = (mu_i + beta sigma_i) - (mu_j - beta sigma_j)``,
    population spread over heads; the diagonal is -inf (a response against itself is no question)."""
    mean, spread = rewards.mean(0), rewards.std(0, correction=0)
    bounds = (mean + beta * spread)[:, None] - (mean - beta * spread)[None, :]
    return bounds.fill_diagonal_(-float("inf"))


def select_pair(rewards: Tensor, rng: np.random.Generator | None = None, beta: float = BETA) -> Pair:
    """``rewards [K, M]`` -> the (i, j) of largest gap upper bound; the first one on ties."""
    bounds = gap_upper_bounds(rewards, beta)
    i, j = divmod(int(torch.argmax(bounds)), bounds.shape[0])
    return i, j


def build(config, policy=None) -> EpistemicExplorer:
    return build_epistemic(config, policy, select_pair)
