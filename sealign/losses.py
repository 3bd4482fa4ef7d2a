"""Preference losses: pure functions from sequence log-probabilities to a scalar loss and metrics.

Notation (see ``../shared/papers/FORMULAS.md``): for a pair, ``lp(y)`` is the summed log-prob of
response y under the policy, ``lr(y) = lp(y) - log pi_ref(y|x)``, ``D = lr(y_w) - lr(y_l)``.
Every function takes a ``PairLogps`` (tensors of shape [B]) and keyword hyper-parameters, and
returns a ``LossOutput``: the mean loss over the batch and detached metrics. No model, no I/O.
A new loss is one function here and one line in ``LOSSES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class PairLogps:
    """Summed response log-probs of a batch of (chosen, rejected) pairs; every tensor is [B]."""

    chosen: Tensor
    rejected: Tensor
    ref_chosen: Tensor | None = None
    ref_rejected: Tensor | None = None
    chosen_len: Tensor | None = None
    rejected_len: Tensor | None = None


@dataclass
class LossOutput:
    loss: Tensor
    metrics: dict[str, float] = field(default_factory=dict)


def _reference_metrics(logps: PairLogps, beta: float) -> dict[str, float]:
    """Implicit rewards beta * lr(y), their margin, preference accuracy, and a KL estimate."""
    chosen_reward = beta * (logps.chosen - logps.ref_chosen).detach()
    rejected_reward = beta * (logps.rejected - logps.ref_rejected).detach()
    margin = chosen_reward - rejected_reward
    # Monte-Carlo estimate of KL(pi || pi_ref) from the responses' log-ratios (they were sampled
    # from a recent policy, so this is the usual online estimate, not an exact KL).
    kl = 0.5 * ((logps.chosen - logps.ref_chosen) + (logps.rejected - logps.ref_rejected)).detach()
    return {
        "rewards/chosen": chosen_reward.mean().item(),
        "rewards/rejected": rejected_reward.mean().item(),
        "rewards/margin": margin.mean().item(),
        "rewards/accuracy": (margin > 0).float().mean().item(),
        "kl": kl.mean().item(),
    }


def sft_term(logps: PairLogps) -> Tensor:
    """Per-pair length-normalised negative log-likelihood of the chosen response, ``-lp(y_w)/|y_w|``."""
    return -logps.chosen / logps.chosen_len.clamp(min=1)


def dpo_loss(logps: PairLogps, beta: float = 0.1, label_smoothing: float = 0.0,
             sft_weight: float = 0.0) -> LossOutput:
    """DPO (Rafailov et al. 2023, eq. 7), with conservative label smoothing (cDPO):

        -(1 - eps) * log sigma(beta * D) - eps * log sigma(-beta * D)

    plus ``sft_weight * (-lp(y_w) / |y_w|)``.
    """
    logits = beta * ((logps.chosen - logps.ref_chosen) - (logps.rejected - logps.ref_rejected))
    per_pair = -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)
    if sft_weight:
        per_pair = per_pair + sft_weight * sft_term(logps)
    return LossOutput(per_pair.mean(), _reference_metrics(logps, beta))


LOSSES = {
    "dpo": dpo_loss,
}
# Losses that never look at the reference policy (the learner then skips its forward pass).
REFERENCE_FREE: set[str] = set()


def compute_loss(name: str, logps: PairLogps, **hyper) -> LossOutput:
    out = LOSSES[name](logps, **hyper)
    if not torch.isfinite(out.loss):
        raise FloatingPointError(f"{name} loss is not finite ({out.loss.item()})")
    return out
