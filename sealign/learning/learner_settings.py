"""The learner's optimiser settings (sealign/learning/learner.py), one flag and one YAML key each.

A leaf: it imports nothing from sealign, so ``sealign/config.py`` can compose it into ``RunConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class OptimiserSettings:
    """The learner's optimiser (sealign/learning/learner.py)."""

    lr: float = 3e-4
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    grad_clip: float = 1.0
    micro_batch_size: int = 32
    """Gradient accumulation: a batch is split into micro-batches of this many pairs."""
    gradient_checkpointing: bool = False
    """Keep only each layer's input for the backward pass and recompute the rest (transformers'
    gradient checkpointing): the learner's activations shrink ~10x for about one more forward pass.
    Each pair's prompt is then run with each response (no shared prompt cache)."""
    offload_reference: bool = False
    """Keep the frozen reference's weights (full fine-tune, CPU) in a file in the run's folder, in
    memory only while they are read: each step scores its pairs with the reference first, then
    lets its pages go before the policy's forward and backward (sealign/policy/offload.py)."""
    warmup_steps: int = 2
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    """After the warm-up, the learning rate stays (``constant``) or decays, linearly or on a half cosine,
    to ``lr_min_ratio * lr`` at the run's planned last update, and stays there after it (updates beyond
    the plan: ERM sync's extra ones)."""
    lr_min_ratio: float = 0.1
    lr_decay_steps: int = 0
    """The updates the decay spans; 0: the run's planned updates, one per batch of oracle answers
    (``ceil(budget / batch_size)``)."""
    keep_dropout: bool = False
    """Keep the model's dropout in the learner's passes. Off by default, as in TRL's DPO: with dropout
    (GPT-2, OPT: 0.1) both log-probabilities of a pair are noisy (with LoRA the reference is the same
    network), DPO's margin is nonzero before any step and the loss learns from the noise
    (sealign/policy/dropout.py). --lora-dropout is kept either way."""

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.lr > 0, f"lr must be > 0 (got {self.lr})"),
            (self.micro_batch_size >= 1, f"micro_batch_size must be >= 1 (got {self.micro_batch_size})"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0 (got {self.weight_decay})"),
            (0 <= self.adam_beta1 < 1, f"adam_beta1 must be in [0, 1) (got {self.adam_beta1})"),
            (0 <= self.adam_beta2 < 1, f"adam_beta2 must be in [0, 1) (got {self.adam_beta2})"),
            # clip_grad_norm_ with a negative norm flips the gradient's sign, and 0 zeroes it.
            (self.grad_clip > 0, f"grad_clip must be > 0; a large value turns clipping off (got {self.grad_clip})"),
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0 (got {self.warmup_steps})"),
            (0 <= self.lr_min_ratio <= 1, f"lr_min_ratio must be in [0, 1] (got {self.lr_min_ratio})"),
            (self.lr_decay_steps >= 0, f"lr_decay_steps must be >= 0; 0 spans the run (got {self.lr_decay_steps})"),
        ]
