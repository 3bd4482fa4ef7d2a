"""The explorers' settings (one flag and one YAML key each) and their checks; docs/exploration.md.

A leaf: it imports nothing from sealign, so ``sealign/config.py`` can compose it into ``RunConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class ExplorationSettings:
    """Which explorer picks the queries among the candidates, and its options."""

    explorer: str = "passive"
    """passive | ensemble-passive | sea-ee | sea-bai | uncertainty | ids | best-worst | apl | selm-rank |
    pairwise-rank (docs/exploration.md)."""
    # epistemic reward model of the ensemble explorers (docs/exploration.md)
    explore_heads: int = 20
    """K: MLP reward heads in the epistemic ensemble (oat: 20)."""
    explore_width: int = 128
    """Hidden width of each head (oat: 128)."""
    explore_depth: int = 1
    """Hidden layers of each head (0 = linear heads)."""
    explore_prior_scale: float = 1.0
    """Scale of each head's fixed random prior network (randomised prior functions); 0 = none."""
    explore_lr: float = 1e-3
    """Adam learning rate of the heads (oat: 1e-3)."""
    explore_weight_decay: float = 5e-5
    """Decoupled weight decay of the heads (oat: 5e-5)."""
    explore_reg: float = 0.5
    """Weight of the L2 pull toward each head's initial weights, divided by comparisons seen (oat: 0.5)."""
    explore_steps: int = 5
    """Adam steps on the replay buffer after each answered batch (oat: 5)."""
    explore_batch_size: int = 64
    """Comparisons per ensemble minibatch, drawn from all answers so far."""
    explore_bootstrap: Literal["poisson", "bernoulli", "none"] = "poisson"
    """Per-head resampling of the answers: 'poisson' (online bootstrap), 'bernoulli' (double or nothing), 'none'."""
    ask_identical_pairs: bool = False
    """Ask the oracle about two identical texts. Off (the default): such a question, whose answer is
    known (a tie, never learned from), is dropped before it is asked and spends nothing; on: it is
    asked and paid for, as earlier versions did (the study's ``passive-any`` control)."""
    explore_features: str = "policy"
    """Feature backbone of the heads: 'policy' (frozen copy of the initial policy), 'live' (the learning
    policy's own hidden states, from its sampling pass), 'minilm', 'pairwise' (the encoder of the
    built-in task's pairwise preference model, trained on preferences as oat's PairRM is), or an
    AutoModel folder."""
    explore_pooling: Literal["mean", "last"] = "mean"
    """Pooling of the backbone's last hidden states over the response: 'mean' or 'last' (token)."""
    explore_resample_tries: int = 20
    """sea-ee: second heads tried while their best equals the first's, before the fallback (oat: K)."""
    explore_fallback: Literal["random", "second-best"] = "random"
    """sea-ee: when all tried heads agree, pair y1 with a 'random' other candidate or the 'second-best'."""
    explore_uncertainty: Literal["prob", "logit"] = "prob"
    """uncertainty, sea-bai: a pair's uncertainty is the heads' variance of the win probability
    sigmoid(r_i - r_j) ('prob'; docs/exploration.md, "Which uncertainty") or of the margin r_i - r_j
    ('logit', as oat)."""
    length_penalty: float = 0.0
    """Ensemble explorers rank with r - length_penalty * |y| (|y| in characters; Dong et al. 2024 sec. 3)."""
    apl_prompt_fraction: float = 1.0
    """apl: share of each batch's prompts queried, those of highest predictive entropy (1 = all)."""
    apl_entropy: Literal["sequence", "token"] = "sequence"
    """apl: predictive entropy from summed sequence log-probs (APL, oat) or per-token means."""
    ranker_model: str = "builtin"
    """pairwise-rank: the pairwise preference model (a save_pretrained folder or Hub name) that ranks
    the candidates; 'builtin' = the built-in task's, built once from the SFT policy (batches and
    truncation follow oracle_batch_size / oracle_max_length)."""

    def checks(self) -> list[tuple[bool, str]]:
        """(ok, message) pairs; ``RunConfig.validate`` raises the first message that is not ok. (The
        ensemble's own are ``ensemble_checks``; the xpo explorer's need of reference samples, which ties
        it to the actor's settings, is among ``RunConfig.checks_across_parts``.)"""
        return []

    def live_pooling(self) -> str | None:
        """The pooling the actor applies to the policy's hidden states as it samples, for the explorer's
        'live' features; None when the explorer embeds otherwise."""
        return self.explore_pooling if self.explore_features == "live" else None


BOOTSTRAPS = ("poisson", "bernoulli", "none")


def ensemble_checks(settings) -> list[tuple[bool, str]]:
    """The epistemic ensemble's own checks, made when an ensemble explorer is built (a run whose
    explorer has no ensemble never reads these settings)."""
    return [
        (settings.explore_heads >= 1, f"explore_heads must be >= 1 (got {settings.explore_heads})"),
        (settings.explore_width >= 1, f"explore_width must be >= 1 (got {settings.explore_width})"),
        (settings.explore_depth >= 0, f"explore_depth must be >= 0 (got {settings.explore_depth})"),
        (settings.explore_steps >= 1, f"explore_steps must be >= 1 (got {settings.explore_steps})"),
        (settings.explore_lr > 0, f"explore_lr must be > 0 (got {settings.explore_lr})"),
        (settings.explore_bootstrap in BOOTSTRAPS,
         f"explore_bootstrap must be one of {BOOTSTRAPS} (got {settings.explore_bootstrap!r})"),
    ]
