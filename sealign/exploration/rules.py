"""Shared vocabulary of the pair-selection rules: pure functions of reward samples.

Every rule is ``select_pair(rewards, rng) -> (i, j) | None`` over ``rewards: Tensor[K, M]``, K
posterior samples (ensemble heads) by M candidates of one prompt, defined in the explorer's own
module. The same functions drive the LLM loop and the dueling-bandit testbed (bench/bandit.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from sealign.exploration.base import Pair

PairRule = Callable[[Tensor, np.random.Generator], "Pair | None"]


def win_prob_variance(rewards: Tensor) -> Tensor:
    """``V[i, j] = Var_k[ sigmoid(r_k(i) - r_k(j)) ]``, population variance over heads: ``[M, M]``.

    The posterior variance of the probability that i beats j: how much one answer about (i, j)
    would tell us. Symmetric with a zero diagonal.
    """
    win_prob = torch.sigmoid(rewards[:, :, None] - rewards[:, None, :])  # [K, M, M]
    return win_prob.var(0, correction=0)


def logit_variance(rewards: Tensor) -> Tensor:
    """``V[i, j] = Var_k[ r_k(i) - r_k(j) ]``, population variance over heads: ``[M, M]``.

    oat's ``logits_variance``: the spread of the reward margin itself. Unlike the win-probability
    variance it stays large for a pair whose outcome is already certain but whose margin is unsure.
    """
    return (rewards[:, :, None] - rewards[:, None, :]).var(0, correction=0)


UNCERTAINTIES = {"prob": win_prob_variance, "logit": logit_variance}
"""How sure the posterior is about a pair: ``prob`` (the default; docs/exploration.md, "Which uncertainty")
or ``logit`` (oat)."""


def argmax_pair(scores: Tensor) -> Pair:
    """The off-diagonal (i, j), i < j, of largest ``scores[i, j]`` (``[M, M]``); first one on ties."""
    m = scores.shape[0]
    i, j = torch.triu_indices(m, m, offset=1)
    best = int(torch.argmax(scores[i, j]))
    return int(i[best]), int(j[best])


def random_pair(num_candidates: int, rng: np.random.Generator) -> Pair:
    i, j = rng.choice(num_candidates, size=2, replace=False)
    return int(i), int(j)


def random_other(num_candidates: int, i: int, rng: np.random.Generator) -> int:
    """A uniformly random index in ``range(num_candidates)`` other than ``i``."""
    j = int(rng.integers(num_candidates - 1))
    return j + (j >= i)
