"""What moves the learner's weights: AdamW (fused where torch can) with its warm-up and decay, and
Asghari et al.'s EMA anchor of the parameters that ``reinforce_step`` pulls toward."""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from sealign.learning.learner_settings import OptimiserSettings
from sealign.policy import hardware


class AnchorEMA:
    """Asghari et al.'s anchor: an exponential moving average of the trainable parameters,

        theta_bar <- (1 - tau) * theta_bar + tau * theta       (``update``, after each step)

    and the regulariser ``weight * ||theta - theta_bar||^2`` (``penalty``) summed over all trainable
    parameters. Parameter space (not a KL to the anchor policy) because the paper regularises the
    *parameters* toward the anchor, and it costs no extra forward pass.
    """

    def __init__(self, model: torch.nn.Module, tau: float, weight: float):
        if not 0 < tau <= 1:
            raise ValueError(f"anchor tau must be in (0, 1] (got {tau})")
        self.tau = tau
        self.weight = weight
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.anchor = [p.detach().clone() for p in self.params]

    def squared_distance(self) -> Tensor:
        """``||theta - theta_bar||^2``, differentiable in theta."""
        return sum(((p - a) ** 2).sum() for p, a in zip(self.params, self.anchor))

    def penalty(self) -> Tensor:
        return self.weight * self.squared_distance()

    @torch.no_grad()
    def update(self) -> None:
        for p, a in zip(self.params, self.anchor):
            a.lerp_(p.detach(), self.tau)

    def state_dict(self) -> dict:
        return {"tau": self.tau, "weight": self.weight, "anchor": [a.clone() for a in self.anchor]}

    def load_state_dict(self, state: dict) -> None:
        for a, saved in zip(self.anchor, state["anchor"]):
            a.copy_(saved)


def adamw(params: list[torch.Tensor], **settings) -> torch.optim.AdamW:
    """AdamW, fused into one kernel per parameter where torch has one (CPU since torch 2.4, CUDA).

    On SmolLM2-135M (fp32, one CPU thread) the fused step takes 0.08 s against the default
    multi-tensor (``foreach``) step's 0.51 s, whose intermediate lists also add ~500 MB to the peak
    (bench/optimizer_step.py). Same update rule; results agree to float rounding. Where torch has no
    fused kernel for the parameters (``hardware.fused_adamw``) the default AdamW runs, said once.
    """
    fused = hardware.fused_adamw(params)
    if params and not fused:
        hardware.warn_once("fused-adamw", f"this torch has no fused AdamW for {params[0].device.type} "
                                          f"{str(params[0].dtype).removeprefix('torch.')} parameters: the default "
                                          "(multi-tensor) AdamW runs, a slower step")
    return torch.optim.AdamW(params, fused=fused or None, **settings)


def lr_factor(step: int, warmup_steps: int, schedule: str, decay_steps: int, min_ratio: float) -> float:
    """The multiple of the base learning rate that update ``step`` (0-based) uses: a linear warm-up
    over ``warmup_steps`` updates, then constant, or a linear or half-cosine decay that reaches
    ``min_ratio`` at update ``decay_steps - 1`` (the last planned one) and stays there."""
    warmup = max(1, warmup_steps)
    if step < warmup or schedule == "constant":
        return min(1.0, (step + 1) / warmup)
    span = max(1, decay_steps - 1 - (warmup - 1))
    progress = min(1.0, (step - (warmup - 1)) / span)
    shape = 1 - progress if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
    return min_ratio + (1 - min_ratio) * shape


def build_optimiser(model: torch.nn.Module, settings: OptimiserSettings, planned_updates: int = 1):
    """AdamW over ``model``'s trainable weights, and its learning-rate schedule (``lr_factor``):
    warm-up, then constant or a decay over ``settings.lr_decay_steps`` or else ``planned_updates``."""
    optimizer = adamw([p for p in model.parameters() if p.requires_grad], lr=settings.lr,
                      betas=(settings.adam_beta1, settings.adam_beta2), weight_decay=settings.weight_decay)
    decay_steps = settings.lr_decay_steps or planned_updates
    schedule = functools.partial(lr_factor, warmup_steps=settings.warmup_steps, schedule=settings.lr_schedule,
                                 decay_steps=decay_steps, min_ratio=settings.lr_min_ratio)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
