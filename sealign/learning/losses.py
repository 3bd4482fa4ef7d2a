"""Training objectives: pure functions from log-probabilities (or rewards) to a loss and its metrics.

Notation (see ``docs/losses.md``, where every formula is written out): for a prompt x and a
response y, ``lp(y) = log pi_theta(y|x)`` summed over the response tokens, ``lr(y) = lp(y) -
log pi_ref(y|x)``, ``|y|`` the number of response tokens, ``y_w`` / ``y_l`` the preferred /
rejected response and ``D = lr(y_w) - lr(y_l)``.

Three families, all tensors in, ``LossOutput(loss, metrics)`` out, no model and no I/O:

* pairwise preference losses ``f(PairLogps, **hyper)`` in ``PAIR_LOSSES``:
  DPO, IPO, SLiC, SimPO, SELM, XPO. ``compute_loss`` adds the optional SFT term to any of them.
* ``reinforce_loss`` (Asghari et al. 2026): policy log-probs of single responses and reward-model signals;
  the EMA anchor that regularises it is parameter state and lives in the learner (``AnchorEMA``).
* ``bt_loss``: the Bradley-Terry reward-model loss on reward tensors (Dong et al. 2024), in
  ``reward_losses.py``.

Hyper-parameters are keyword arguments; ``LOSSES`` names every objective ``--loss`` accepts and,
in its ``Loss`` spec, the run setting that fills each keyword (a keyword's default is that
setting's default). A new pairwise loss is one function here and one line in ``LOSSES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class PairLogps:
    """Summed response log-probs of a batch of (chosen, rejected) pairs; every tensor is [B].

    ``ref_*`` are the frozen reference policy's log-probs (None for reference-free losses);
    ``*_len`` the response lengths in tokens; ``ref_sample`` the *policy's* log-prob of one
    response per prompt sampled from the reference policy (SELM, XPO), ``ref_sample_len`` its length.
    """

    chosen: Tensor
    rejected: Tensor
    ref_chosen: Tensor | None = None
    ref_rejected: Tensor | None = None
    chosen_len: Tensor | None = None
    rejected_len: Tensor | None = None
    ref_sample: Tensor | None = None
    ref_sample_len: Tensor | None = None


@dataclass
class LossOutput:
    loss: Tensor
    metrics: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------- helpers
def _need(value: Tensor | None, what: str, loss: str) -> Tensor:
    if value is None:
        raise ValueError(f"the {loss} loss needs {what}, which PairLogps does not hold")
    return value


def _log_ratios(logps: PairLogps, loss: str) -> tuple[Tensor, Tensor]:
    """``lr(y_w)`` and ``lr(y_l)``."""
    ref_chosen = _need(logps.ref_chosen, "the reference log-probs (ref_chosen)", loss)
    ref_rejected = _need(logps.ref_rejected, "the reference log-probs (ref_rejected)", loss)
    return logps.chosen - ref_chosen, logps.rejected - ref_rejected


def _smoothed_sigmoid_loss(logits: Tensor, label_smoothing: float) -> Tensor:
    """``-(1 - eps) log sigma(z) - eps log sigma(-z)``, per pair (eps = 0: plain logistic loss)."""
    return -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)


def reward_metrics(chosen_reward: Tensor, rejected_reward: Tensor) -> dict[str, float]:
    """Mean implicit rewards, their margin and the preference accuracy (margin > 0)."""
    chosen_reward, rejected_reward = chosen_reward.detach(), rejected_reward.detach()
    margin = chosen_reward - rejected_reward
    return {
        "rewards/chosen": chosen_reward.mean().item(),
        "rewards/rejected": rejected_reward.mean().item(),
        "rewards/margin": margin.mean().item(),
        "rewards/accuracy": (margin > 0).float().mean().item(),
    }


def _reference_metrics(logps: PairLogps, beta: float) -> dict[str, float]:
    """Implicit rewards ``beta * lr(y)``, their margin, accuracy, log-probs and a KL estimate."""
    lr_chosen, lr_rejected = _log_ratios(logps, "metrics")
    metrics = reward_metrics(beta * lr_chosen, beta * lr_rejected)
    # Monte-Carlo estimate of KL(pi || pi_ref) from the responses' log-ratios (they were sampled
    # from a recent policy, so this is the usual online estimate, not an exact KL).
    metrics["kl"] = (0.5 * (lr_chosen + lr_rejected)).detach().mean().item()
    metrics["logps/chosen"] = logps.chosen.detach().mean().item()
    metrics["logps/rejected"] = logps.rejected.detach().mean().item()
    return metrics


# ----------------------------------------------------------------------------- pairwise losses
def dpo_loss(logps: PairLogps, beta: float = 0.1, label_smoothing: float = 0.0) -> LossOutput:
    """DPO (Rafailov et al. 2023, eq. 7) with conservative label smoothing (cDPO, Mitchell 2023):

        -(1 - eps) * log sigma(beta * D) - eps * log sigma(-beta * D)

    eps = ``label_smoothing`` is the assumed probability that a label is flipped (0 = plain DPO).
    """
    lr_chosen, lr_rejected = _log_ratios(logps, "dpo")
    per_pair = _smoothed_sigmoid_loss(beta * (lr_chosen - lr_rejected), label_smoothing)
    return LossOutput(per_pair.mean(), _reference_metrics(logps, beta))


def ipo_loss(logps: PairLogps, tau: float = 0.1) -> LossOutput:
    """IPO (Azar et al. 2023, eq. 17; ``--beta`` sets tau): ``(D - 1 / (2 * tau))^2``.

    Minimised at ``D = 1 / (2 tau)``: the log-ratio margin is regressed to a finite target
    instead of being pushed to infinity. D uses *summed* log-probs as in docs/losses.md's notation;
    TRL (and the IPO authors' runs) average them per token first: pass per-token-averaged
    log-probs for that variant.
    """
    lr_chosen, lr_rejected = _log_ratios(logps, "ipo")
    per_pair = (lr_chosen - lr_rejected - 1 / (2 * tau)) ** 2
    return LossOutput(per_pair.mean(), _reference_metrics(logps, tau))


def slic_loss(logps: PairLogps, beta: float = 0.1) -> LossOutput:
    """SLiC hinge (Zhao et al. 2023, SLiC-HF eq. 1 calibration loss, reference-normalised as in
    TRL's ``hinge`` and oat's SLiC): ``max(0, 1 - beta * D)``; 1/beta is the hinge margin on D.

    The original SLiC-HF uses raw log-probs and adds an SFT term: mix one in with ``sft_weight``.
    """
    lr_chosen, lr_rejected = _log_ratios(logps, "slic")
    per_pair = torch.relu(1 - beta * (lr_chosen - lr_rejected))
    return LossOutput(per_pair.mean(), _reference_metrics(logps, beta))


def simpo_loss(logps: PairLogps, beta: float = 0.1, gamma_beta_ratio: float = 0.5,
               label_smoothing: float = 0.0) -> LossOutput:
    """SimPO (Meng et al. 2024, eq. 6), reference-free, length-normalised, with target margin gamma:

        -log sigma(beta * (lp(y_w)/|y_w| - lp(y_l)/|y_l|) - gamma),   gamma = gamma_beta_ratio * beta

    (oat's parameterisation, default ratio 0.5; TRL's ``simpo_gamma`` is gamma itself; here beta is a
    reward scale, not a KL strength: the paper uses 2.0 to 2.5, the run's default --beta is 0.1), with the
    same label smoothing as cDPO. Never reads ``ref_*``. The implicit rewards reported are SimPO's
    own, ``beta * lp(y)/|y|``; there is no reference, hence no KL metric.
    """
    chosen_len = _need(logps.chosen_len, "response lengths (chosen_len)", "simpo")
    rejected_len = _need(logps.rejected_len, "response lengths (rejected_len)", "simpo")
    chosen_avg = logps.chosen / chosen_len.clamp(min=1)
    rejected_avg = logps.rejected / rejected_len.clamp(min=1)
    gamma = gamma_beta_ratio * beta
    per_pair = _smoothed_sigmoid_loss(beta * (chosen_avg - rejected_avg) - gamma, label_smoothing)
    metrics = reward_metrics(beta * chosen_avg, beta * rejected_avg)
    metrics["logps/chosen"] = logps.chosen.detach().mean().item()
    metrics["logps/rejected"] = logps.rejected.detach().mean().item()
    return LossOutput(per_pair.mean(), metrics)


def _dpo_plus_exploration(logps: PairLogps, beta: float, label_smoothing: float, coefficient: float,
                          loss: str) -> LossOutput:
    """``L_DPO + coefficient * mean(lp(y_ref))``, the shared shape of SELM and XPO."""
    ref_sample = _need(logps.ref_sample, "policy log-probs of reference samples (ref_sample)", loss)
    dpo = dpo_loss(logps, beta=beta, label_smoothing=label_smoothing)
    exploration = coefficient * ref_sample.mean()
    metrics = dict(dpo.metrics)
    metrics["loss/dpo"] = dpo.loss.item()
    metrics["loss/exploration"] = exploration.item()
    metrics["logps/ref_sample"] = ref_sample.detach().mean().item()
    return LossOutput(dpo.loss + exploration, metrics)


def selm_loss(logps: PairLogps, beta: float = 0.1, alpha: float = 0.001,
              label_smoothing: float = 0.0) -> LossOutput:
    """SELM's optimism-biased DPO (Zhang et al. 2024, Zhang et al. 2024 eq. 4.2), minimised:

        L_DPO + alpha * beta * E_{y ~ pi_ref}[ lp(y) ]

    one sample y per prompt (``ref_sample``). ``alpha`` is eq. 4.2's alpha, beta multiplied in
    explicitly (Algorithm 1 line 4 folds beta into alpha; the paper's grid 1e-4 .. 5e-3, 1e-3 for
    Zephyr, 1e-4 for Llama-3, is for this alpha, as in the authors' trainer). Pushing down the
    likelihood of the reference's own samples biases the policy toward unexplored responses.
    The authors' code adds ``-alpha*beta*log pi_ref(y)``, a constant: same gradient.
    """
    return _dpo_plus_exploration(logps, beta, label_smoothing, alpha * beta, "selm")


def xpo_loss(logps: PairLogps, beta: float = 0.1, alpha: float = 0.001,
             label_smoothing: float = 0.0) -> LossOutput:
    """XPO (Xie et al. 2024, Exploratory Preference Optimization, Algorithm 1), minimised:

        L_DPO + alpha * lp(y~),   y~ ~ pi_ref

    the same shape as SELM but *without* the factor beta (as TRL's XPOTrainer; its default
    alpha is 1e-5): with the same ``alpha`` XPO's bonus is 1/beta times SELM's.
    """
    return _dpo_plus_exploration(logps, beta, label_smoothing, alpha, "xpo")


def sft_term(logps: PairLogps) -> Tensor:
    """Per-pair length-normalised negative log-likelihood of the chosen response, ``-lp(y_w)/|y_w|``."""
    chosen_len = _need(logps.chosen_len, "response lengths (chosen_len)", "sft")
    return -logps.chosen / chosen_len.clamp(min=1)


# ----------------------------------------------------------------------------- reinforce (Asghari et al. 2026)
def reinforce_loss(logps: Tensor, signals: Tensor, nudge: float = 0.1) -> LossOutput:
    """Asghari et al.'s policy update (sec. 4.2, rules (4)-(5)) without its anchor term:

        -(s + nudge) * lp(y),   s = r(x, y) - r(x, y')   (treated as a constant)

    ``logps`` [B]: policy log-probs of the reinforced responses y; ``signals`` [B]: reward-model
    differences against the other response of the ordered pair (y, y'); ``nudge`` > 0 is the
    "affirmative nudge" that tilts every update toward the sampled responses. Averaged over the
    batch (the paper sums; the scale is absorbed by the optimiser). The pull toward the EMA anchor
    is parameter state, added by the learner (``sealign.learning.optimiser.AnchorEMA``).
    """
    reinforcement = (signals.detach() + nudge).to(logps.dtype)
    per_response = -reinforcement * logps
    metrics = {
        "reinforce/signal": signals.detach().float().mean().item(),
        "reinforce/positive_fraction": (reinforcement > 0).float().mean().item(),
        "logps/response": logps.detach().mean().item(),
    }
    return LossOutput(per_response.mean(), metrics)


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Loss:
    """A training objective as the learner sees it: the function, the run settings it reads, and
    the inputs it needs. The learner reads nothing else about a loss."""

    fn: Callable[..., LossOutput]
    settings: Mapping[str, str]
    """The function's keyword -> the run setting (``RunConfig`` field) that fills it; each keyword's
    default in ``fn`` equals that setting's default (tests/unit/learning/test_learner.py checks it)."""
    input: Literal["pairs", "signals"] = "pairs"
    """pairs: ``fn(PairLogps, **settings)``; signals: ``fn(logps [B], signals [B], **settings)``."""
    uses_reference: bool = True
    """False: the function never reads the reference's log-probs (the learner skips that forward pass)."""
    needs_ref_sample: bool = False
    """True: one response per prompt sampled from the reference policy (``PairLogps.ref_sample``)."""


_DPO = {"beta": "beta", "label_smoothing": "label_smoothing"}
LOSSES: dict[str, Loss] = {
    "dpo": Loss(dpo_loss, _DPO),
    "ipo": Loss(ipo_loss, {"tau": "beta"}),
    "slic": Loss(slic_loss, {"beta": "beta"}),
    "simpo": Loss(simpo_loss, {**_DPO, "gamma_beta_ratio": "gamma_beta_ratio"}, uses_reference=False),
    "selm": Loss(selm_loss, {**_DPO, "alpha": "alpha"}, needs_ref_sample=True),
    "xpo": Loss(xpo_loss, {**_DPO, "alpha": "alpha"}, needs_ref_sample=True),
    "reinforce": Loss(reinforce_loss, {"nudge": "nudge"}, input="signals", uses_reference=False),
}
"""Every objective a run can train with, by ``--loss`` name."""

PAIR_LOSSES = {name: loss.fn for name, loss in LOSSES.items() if loss.input == "pairs"}
"""Pairwise preference losses, ``f(PairLogps, **hyper) -> LossOutput``."""

PAIR_SETTINGS = {"sft_weight": "sft_weight"}
"""``compute_loss``'s own keyword, applied on top of any pairwise loss."""


def compute_loss(name: str, logps: PairLogps, sft_weight: float = 0.0, **hyper) -> LossOutput:
    """``PAIR_LOSSES[name](logps, **hyper)`` plus ``sft_weight * mean(-lp(y_w)/|y_w|)``; refuses NaN/inf.

    The SFT term (docs/losses.md, "SFT term"; SLiC-HF's regulariser, oat's ``sft_weight``) is mixed
    in here, once, for every loss. ``metrics['sft_nll']`` is always the chosen responses' per-token
    NLL when lengths are known, whether or not it is weighted into the loss.
    """
    if name not in PAIR_LOSSES:
        raise ValueError(f"compute_loss takes a pairwise loss ({', '.join(PAIR_LOSSES)}), not {name!r}")
    out = PAIR_LOSSES[name](logps, **hyper)
    if logps.chosen_len is not None:
        nll = sft_term(logps).mean()
        out.metrics["sft_nll"] = nll.item()
        if sft_weight:
            out = LossOutput(out.loss + sft_weight * nll, out.metrics)
    elif sft_weight:
        raise ValueError("sft_weight > 0 needs the chosen responses' lengths (chosen_len)")
    if not torch.isfinite(out.loss):
        raise FloatingPointError(f"{name} loss is not finite ({out.loss.item()})")
    return out
