"""Sampling on a CPU with the large linear layers' weights pre-packed for oneDNN.

A decode step multiplies a few rows (the batch's running responses) by every weight matrix. For
such products PyTorch's default CPU path is far from what the core can do: SmolLM2's 49k-column LM
head takes 23.5 ms for 16 rows on one thread, 10.7 ms with its weight reordered once into oneDNN's
blocked layout (2.9x on two threads; 1.3-1.75x for the layers' own matrices; `bench/packed.py`).
Weights change only when the learner steps, so ``packed_linears`` packs them at the start of each
decode loop and drops the packed copies at its end (extra memory while sampling: one copy of the
packed layers, in the compute dtype). ``HFPolicy`` uses it under bf16 mixed precision: in float32
the learner step that followed a packed decode loop ran up to 15% slower, eating the gain.

Only ``torch.nn.Linear`` layers of at least ``MIN_PACKED_ELEMENTS`` weights are packed: for small
matrices the packed call is slower than the default one, and the built-in model's layers stay as
they are (its recorded runs are unchanged). The results equal the default path's to float rounding
(another summation order: ~1e-6 relative in float32; identical in bfloat16 in the tests).

oneDNN computes in bfloat16 only on CPUs with avx512bw/vl/dq or avx_ne_convert (``hardware.onednn_bf16``);
elsewhere (an AMD EPYC without AVX-512) packing a bf16 weight raises, so bf16 layers stay unpacked
there, with one warning line. Other dtypes than float32 and bfloat16 are never packed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from sealign.policy import hardware

MIN_PACKED_ELEMENTS = 1 << 18
"""Smallest weight (out x in elements) worth packing: 576 x 576 gains 1.3x, 192 x 576 loses ~10%."""


def available() -> bool:
    ops = torch.ops.mkldnn
    return torch.backends.mkldnn.is_available() and hasattr(ops, "_reorder_linear_weight") and hasattr(
        ops, "_linear_pointwise")


@contextlib.contextmanager
@torch.no_grad()
def packed_linears(model: torch.nn.Module, compute_dtype: torch.dtype | None, rows: int) -> Iterator[int]:
    """Within the context the large ``nn.Linear`` layers of ``model`` (on the CPU) compute through
    oneDNN with pre-packed weights; yields how many were packed (0 where oneDNN is missing or
    cannot compute in the dtype: ``packs_in``).

    ``compute_dtype``: the dtype the products run in (bfloat16 under bf16 autocast, whose casts the
    packed call would bypass; None: each weight's own). ``rows``: the expected rows per product, a
    hint for the packing. Nothing may train inside: the packed copies do not follow the weights.
    """
    layers = [m for m in model.modules() if type(m) is torch.nn.Linear and m.weight.device.type == "cpu"
              and m.weight.numel() >= MIN_PACKED_ELEMENTS and packs_in(compute_dtype or m.weight.dtype)
              ] if available() else []
    packs: dict[tuple, torch.Tensor] = {}  # a weight shared by two layers (a tied head) is packed once
    try:
        for layer in layers:
            dtype = compute_dtype or layer.weight.dtype
            key = (layer.weight.data_ptr(), dtype)
            if key not in packs:
                packs[key] = torch.ops.mkldnn._reorder_linear_weight(layer.weight.detach().to(dtype), max(rows, 1))
            bias = None if layer.bias is None else layer.bias.detach().to(dtype)
            layer.forward = _packed_forward(packs[key], bias, dtype)  # the instance's own, over the class's
        yield len(layers)
    finally:
        for layer in layers:
            layer.__dict__.pop("forward", None)


def packs_in(dtype: torch.dtype) -> bool:
    """oneDNN's packed linear computes in ``dtype`` on this CPU: float32 always, bfloat16 where oneDNN
    has bf16 kernels (``hardware.onednn_bf16``; said once where it has not)."""
    if dtype == torch.bfloat16:
        if hardware.onednn_bf16():
            return True
        hardware.warn_once("packed-bf16", "this CPU has no oneDNN bfloat16 kernels (they need avx512bw/vl/dq or "
                                          "avx_ne_convert): sampling runs its linear layers unpacked")
        return False
    return dtype == torch.float32


def _packed_forward(weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype):
    def forward(x: torch.Tensor) -> torch.Tensor:  # [..., in] -> [..., out]
        return torch.ops.mkldnn._linear_pointwise(x.to(dtype), weight, bias, "none", [], "")
    return forward
