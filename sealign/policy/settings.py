"""The policy's settings: which model, its generation backend and its LoRA adapters.

A leaf: imports nothing from sealign."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Backend:
    """A candidate-generation backend: what the actor samples with."""

    engine: str | None
    """'module:Class' built as ``Class(policy_path, policy, config)`` (a ``Policy`` over the learner's
    weights, handed new ones after each update); None: the actor samples with the learner's policy itself."""
    check: str | None = None
    """'module:function' that refuses in one line, before any model loads, where the backend cannot run."""
    reference_samples: bool = True
    """It can draw reference candidates (XPO's: a frozen copy of the initial network)."""
    needs_gpu: bool = False
    """It runs on a GPU only (the defaults that follow the model then choose the GPU's)."""


BACKENDS: dict[str, Backend] = {
    "hf": Backend(engine=None),
    "vllm": Backend(engine="sealign.policy.vllm:VLLMPolicy", check="sealign.policy.vllm:check_available",
                    reference_samples=False, needs_gpu=True),
}
"""``--policy-backend`` name -> its backend: a new backend is its module plus one line here (names are
strings, imported when chosen, so this file stays a leaf and vLLM is never imported unless asked for)."""
BackendName = Literal[tuple(BACKENDS)]

DTYPES = ("float32", "bfloat16", "float16", "float64")
LOW_PRECISION_BITS = {"bfloat16": 8, "float16": 11}
"""Significand bits (the implicit one included) of the dtypes whose spacing can swallow an update."""
TYPICAL_WEIGHT = 0.02
"""The size of a typical transformer weight (the initialisation std of GPT-2, Llama, Pythia)."""


def smallest_trainable_lr(dtype: str) -> float:
    """The smallest learning rate at which AdamW still moves weights stored in ``dtype``; 0 for
    float32 and float64.

    AdamW changes a weight by about lr a step (lr * m / sqrt(v), and |m / sqrt(v)| <= ~1). A weight
    held in ``dtype`` keeps a change only above half its spacing there, and the spacing doubles with
    each power of two of the weight. The rule: lr must be at least the spacing at a typical weight
    (0.02): bfloat16 2^-13 = 1.2e-4, float16 2^-16 = 1.5e-5. Below it every update of a weight above
    ~0.03 rounds away, and most of those near 0.02 (at the papers' 5e-7 in bf16: all of them).
    """
    if dtype not in LOW_PRECISION_BITS:
        return 0.0
    return 2.0 ** (math.floor(math.log2(TYPICAL_WEIGHT)) - (LOW_PRECISION_BITS[dtype] - 1))


@dataclass
class PolicySettings:
    """Which model is the policy."""

    policy: str = "builtin"
    """'builtin' (tiny SFT policy built on first use), a registered offline model ('smollm2-135m';
    `sealign models`), a local save_pretrained folder, or a Hub name (org/model)."""
    dtype: str = "float32"
    mixed_precision: Literal["no", "bf16"] = "no"
    """'bf16': every forward pass (sampling, scoring, features) runs under bfloat16 autocast while the
    trained weights and the optimiser stay in `dtype` (fp32 master weights); the frozen linear layers
    (LoRA's base model, the reference copy) are stored in bfloat16 once. Faster on CPUs with
    avx512_bf16 or AMX and on GPUs; log-probabilities move by ~1e-2 (bench/results/throughput.md)."""
    sft_steps: int = 700
    """SFT steps of the built-in policy's bootstrap (a different value builds and caches another policy)."""

    def checks(self) -> list[tuple[bool, str]]:
        """(ok, message) pairs; ``RunConfig.validate`` raises the first message that is not ok."""
        return [
            (self.sft_steps >= 1, f"sft_steps must be >= 1 (got {self.sft_steps})"),
            (self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)} (got {self.dtype!r})"),
            (self.mixed_precision in ("no", "bf16"),
             f"mixed_precision must be 'no' or 'bf16' (got {self.mixed_precision!r})"),
            (self.mixed_precision == "no" or self.dtype == "float32",
             f"mixed_precision bf16 keeps float32 master weights: use it with dtype float32 (got {self.dtype})"),
        ]


@dataclass
class BackendSettings:
    """Where candidates are generated (docs/scale.md)."""

    policy_backend: BackendName = "hf"
    """Candidate generation: 'hf' (transformers, CPU or GPU) or 'vllm' (GPU, the `vllm` extra)."""
    vllm_gpu_memory: float = 0.3
    """vllm: fraction of the GPU's memory vLLM may take (the learner shares the GPU)."""

    def checks(self) -> list[tuple[bool, str]]:
        """(ok, message) pairs; ``RunConfig.validate`` raises the first message that is not ok."""
        return [
            (self.policy_backend in BACKENDS, f"unknown policy_backend {self.policy_backend!r}; choose one of "
                                              f"{', '.join(BACKENDS)}"),
            (0 < self.vllm_gpu_memory <= 1, f"vllm_gpu_memory must be in (0, 1] (got {self.vllm_gpu_memory})"),
        ]


@dataclass
class LoraSettings:
    """LoRA adapters (the `lora` extra; docs/scale.md)."""

    lora_r: int = 0
    """LoRA rank (the `lora` extra); 0 trains all weights. With LoRA the reference is the base model
    with its adapters disabled: no second copy of the weights."""
    lora_alpha: int = 16
    """LoRA scaling numerator: adapters are scaled by lora_alpha / lora_r."""
    lora_dropout: float = 0.0
    lora_targets: str = "all-linear"
    """Modules that get adapters: 'all-linear' or a comma-separated list of module names (q_proj,v_proj)."""

    def checks(self) -> list[tuple[bool, str]]:
        """(ok, message) pairs; ``RunConfig.validate`` raises the first message that is not ok."""
        return [
            (self.lora_r >= 0, f"lora_r must be >= 0 (got {self.lora_r})"),
            (0 <= self.lora_dropout < 1, f"lora_dropout must be in [0, 1) (got {self.lora_dropout})"),
        ]
