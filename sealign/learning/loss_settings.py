"""The losses' settings (docs/losses.md) and their checks. ``LOSSES`` in ``losses.py`` says which loss
reads which of them. A leaf: imports nothing from sealign."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LossSettings:
    """The training objective and its settings."""

    loss: str = "dpo"
    """dpo | ipo | slic | simpo | selm | xpo | reinforce (formulas and defaults: docs/losses.md)."""
    beta: float = 0.1
    """KL strength of the DPO family (IPO's tau; SimPO's reward scale, 2.0 in its paper)."""
    label_smoothing: float = 0.0
    """cDPO flip probability (dpo, simpo, selm, xpo)."""
    sft_weight: float = 0.0
    """Weight of the SFT term -lp(y_w)/|y_w| added to any pairwise loss."""
    gamma_beta_ratio: float = 0.5
    """SimPO target margin as gamma / beta (oat's parameterisation): gamma = gamma_beta_ratio * beta."""
    alpha: float = 0.001
    """Exploration coefficient on lp(y), y ~ pi_ref: SELM adds alpha * beta * E[lp(y)] (Zhang et al. 2024
    eq. 4.2; grid 1e-4..5e-3), XPO adds alpha * lp(y) (no beta)."""
    nudge: float = 0.1
    """reinforce: the affirmative nudge added to every reinforcement signal (Asghari et al. 2026)."""
    anchor_weight: float = 0.1
    """reinforce: lambda in lambda * ||theta - theta_bar||^2, the pull toward the EMA anchor."""
    anchor_tau: float = 0.01
    """reinforce: EMA rate of the anchor, theta_bar <- (1 - tau) theta_bar + tau theta, per step."""

    def checks(self) -> list[tuple[bool, str]]:
        """(ok, message) pairs; ``RunConfig.validate`` raises the first message that is not ok."""
        return [
            (self.beta > 0, f"beta must be > 0 (got {self.beta})"),
            (0 <= self.label_smoothing < 0.5, f"label_smoothing must be in [0, 0.5) (got {self.label_smoothing})"),
            (self.gamma_beta_ratio >= 0, f"gamma_beta_ratio must be >= 0 (got {self.gamma_beta_ratio})"),
            (self.alpha >= 0, f"alpha must be >= 0 (got {self.alpha})"),
            (self.anchor_weight >= 0, f"anchor_weight must be >= 0 (got {self.anchor_weight})"),
            (0 < self.anchor_tau <= 1, f"anchor_tau must be in (0, 1] (got {self.anchor_tau})"),
        ]
