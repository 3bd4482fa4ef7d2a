"""LoRA training through `peft` (the `lora` extra): adapters on a frozen base model.

With ``--lora-r R`` the learner trains only low-rank adapters ``W + (alpha / r) B A`` on the
target modules. The reference policy is then the *same* network with its adapters switched off
(``AdapterDisabled``): LoRA starts with ``B = 0``, so the base model is exactly the initial
policy, and no second copy of the weights is kept. The actors of the Ray runtime receive only
the adapter weights after each update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch

from sealign.errors import ConfigError, UserError, first_line


def _peft():
    try:
        import peft
    except ImportError as err:
        raise UserError("lora_r > 0 needs the lora extra: pip install 'sealign[lora]'") from err
    return peft


def target_modules(spec: str) -> str | list[str]:
    """'all-linear' (every linear layer but the output head) or 'q_proj,v_proj' -> a name list."""
    if spec.strip() == "all-linear":
        return "all-linear"
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"lora_targets {spec!r} names no module; use 'all-linear' or e.g. 'q_proj,v_proj'")
    return names


def add_lora(model: torch.nn.Module, r: int, alpha: int, dropout: float, targets: str, seed: int):
    """``model`` wrapped as a `peft` model with fresh LoRA adapters; only the adapters train.

    The adapters' random initialisation (A; B is zero) is seeded by ``seed`` alone, so every
    process of the Ray runtime builds the very same adapters.
    """
    peft = _peft()
    config = peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules(targets),
                             task_type="CAUSAL_LM")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            return peft.get_peft_model(model, config)
        except ValueError as err:  # e.g. a target module the model does not have
            raise ConfigError(f"cannot add LoRA adapters ({first_line(err)})") from err


class AdapterDisabled:
    """A LoRA policy's network seen with its adapters disabled: the base model, i.e. the initial
    policy, used as the frozen reference. Calls run the shared network under
    ``disable_adapter()``; nothing is copied, and it follows no updates (the base is frozen)."""

    def __init__(self, peft_model):
        self.model = peft_model

    def __call__(self, *args, **kwargs):
        with self.model.disable_adapter():
            return self.model(*args, **kwargs)

    @property
    def config(self):
        return self.model.config

    @property
    def base_model(self):
        """The backbone under the LM head (hidden states, no ``[B, T, vocab]`` logits), adapters disabled:
        what the epistemic reward model's features need from the initial policy."""
        peft_model = self.model
        backbone = peft_model.get_base_model().base_model

        def run(*args, **kwargs):
            with peft_model.disable_adapter():
                return backbone(*args, **kwargs)
        return run

    def eval(self) -> AdapterDisabled:
        # Deliberately does not switch the shared network's mode: the learner owns it. The base
        # layers have no dropout of their own and disabled adapters apply none.
        return self

    def load_state_dict(self, *args, **kwargs):
        raise UserError("with LoRA the reference is the frozen base model; it cannot be set to the current "
                        "policy (pi_ref = pi_t): train all weights (lora_r 0) for that")


@contextlib.contextmanager
@torch.no_grad()
def adapters_merged(peft_model, dtype: torch.dtype | None = None) -> Iterator[bool]:
    """Within the context ``peft_model`` computes with each adapted linear's weights merged,
    ``W + (alpha / r) B A``, and its adapters switched off: one matrix product per layer instead of
    three, and no per-call casts of the adapters. What sampling wants; nothing may train inside.

    The merged weights are new tensors in ``dtype`` (default: the base weight's dtype; bfloat16 under
    bf16 autocast, which would otherwise cast them on every call), alive only within the context:
    the frozen base weights are never touched, so no rounding accumulates over steps (peft's own
    ``merge_adapter`` adds and later subtracts the update in place). Yields False, changing
    nothing, for adapters other than plain LoRA on linear layers (DoRA, embeddings, convolutions).
    """
    from peft.tuners.lora import LoraLayer
    from peft.tuners.lora.layer import Linear as LoraLinear

    layers = [m for m in peft_model.modules() if isinstance(m, LoraLayer)]
    plain = all(type(m) is LoraLinear and not any(m.use_dora.values()) and not m.merged for m in layers)
    if not layers or not plain:
        yield False
        return
    originals = []
    try:
        for layer in layers:
            base = layer.get_base_layer()
            delta = sum(layer.get_delta_weight(name) for name in layer.active_adapters if name in layer.lora_A)
            merged = (base.weight.float() + delta).to(dtype or base.weight.dtype)
            originals.append((base, base.weight))
            base.weight = torch.nn.Parameter(merged, requires_grad=False)
        with peft_model.disable_adapter():
            yield True
    finally:
        for base, weight in originals:
            base.weight = weight


def load_adapter_folder(path: Path, dtype: torch.dtype):
    """A LoRA run's saved policy (adapters + tokenizer) as a plain model, adapters merged in."""
    _peft()
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    try:
        model = AutoPeftModelForCausalLM.from_pretrained(str(path), dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot load LoRA policy {str(path)!r}: {first_line(err)}") from err
    return model.merge_and_unload(), tokenizer
