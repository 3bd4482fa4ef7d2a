"""Attention for bfloat16 on the CPU: PyTorch's fused CPU kernel is slow at low precision.

`scaled_dot_product_attention` on the CPU dispatches bf16 inputs to a flash kernel that, for the
shapes of a small model (a decode step's query against ~100 cached keys; a learner's 150-token
sequences), runs 1.4-2.5x slower than two plain matrix products around a float32 softmax, forward
and backward (`bench/attention.py`). Under ``--mixed-precision bf16`` on a CPU the policy's layers
call ``cpu_bf16_attention`` instead (registered with transformers' `AttentionInterface` as
``ATTENTION_NAME``); in every other case (fp32, a GPU) it hands over to transformers' SDPA path
unchanged. Masks are built as for SDPA (a boolean keep-mask, or None for a plain causal batch).
On a CPU without oneDNN's bf16 kernels (``hardware.onednn_bf16``: no avx512bw/vl/dq) the bf16 products
are emulated and this path ran 1.6-9x slower than SDPA (emulated with ``ONEDNN_MAX_CPU_ISA=AVX2``),
so the policy keeps SDPA there.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sealign.policy import hardware

ATTENTION_NAME = "sealign_cpu_bf16"


def cpu_bf16_attention(module: torch.nn.Module, query: Tensor, key: Tensor, value: Tensor,
                       attention_mask: Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                       is_causal: bool | None = None, **kwargs) -> tuple[Tensor, None]:
    """transformers' attention-function signature: ``query [B, H, Tq, D]``, ``key``/``value``
    ``[B, Hkv, Tk, D]``, ``attention_mask`` boolean (True = attend) ``[B or 1, 1, Tq, Tk]`` or
    None -> ``(output [B, Tq, H, D], None)``.

    Scores are taken in float32 (bf16 inputs, fp32 products: what the fused kernel accumulates in),
    softmaxed in float32 and cast back for the product with the values. Grouped-query heads are
    grouped, never repeated.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    # under autocast the rotary embedding hands over float32 queries and keys, which SDPA then casts down
    slow_kernel = query.device.type == "cpu" and (
        query.dtype == torch.bfloat16
        or (torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16))
    if not slow_kernel or dropout > 0 or kwargs.get("position_bias") is not None or kwargs.get("softcap") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    with torch.autocast("cpu", enabled=False):  # the scores' product in float32, as written
        return _grouped_attention(query, key, value, attention_mask, scaling,
                                  is_causal if is_causal is not None else getattr(module, "is_causal", True)), None


def _grouped_attention(query: Tensor, key: Tensor, value: Tensor, attention_mask: Tensor | None,
                       scaling: float | None, causal: bool) -> Tensor:
    batch, heads, q_len, dim = query.shape
    kv_heads, kv_len = key.shape[1], key.shape[2]
    groups = heads // kv_heads
    # [B, Hkv, groups * Tq, D]: each key/value head serves its group's queries in one product
    grouped = query.reshape(batch, kv_heads, groups * q_len, dim)
    scores = torch.matmul(grouped.float(), key.float().transpose(-1, -2))
    scores = scores.mul_(dim ** -0.5 if scaling is None else scaling).view(batch, kv_heads, groups, q_len, kv_len)
    # a finite floor, not -inf: a padding query that may attend to nothing gets uniform weights, not NaN
    floor = torch.finfo(scores.dtype).min
    if attention_mask is not None and attention_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attention_mask.unsqueeze(2), floor)
    elif attention_mask is not None:  # an additive float mask
        scores = scores + attention_mask.unsqueeze(2).float()
    elif causal and q_len > 1:
        keep = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)
        scores = scores.masked_fill(~keep, floor)
    weights = scores.softmax(-1).to(value.dtype).view(batch, kv_heads, groups * q_len, kv_len)
    return torch.matmul(weights, value).view(batch, heads, q_len, dim).transpose(1, 2).contiguous()


def register() -> str:
    """Make ``ATTENTION_NAME`` known to transformers (idempotent); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION_NAME, cpu_bf16_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
    return ATTENTION_NAME


def use_cpu_bf16_attention(model: torch.nn.Module) -> bool:
    """Switch ``model`` (a transformers model on the CPU, about to run under bf16 autocast) to
    ``cpu_bf16_attention`` when it runs SDPA attention; returns whether it switched."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    if not hardware.onednn_bf16():  # emulated bf16: 1.6-9x slower than SDPA here
        hardware.warn_once("bf16-attention", "this CPU has no oneDNN bfloat16 kernels: the policy keeps SDPA "
                                             "attention under --mixed-precision bf16")
        return False
    if not hasattr(model, "set_attn_implementation"):
        return False
    model.set_attn_implementation(register())
    return getattr(model.config, "_attn_implementation", None) == ATTENTION_NAME
