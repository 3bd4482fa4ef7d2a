"""Attention alone on the CPU: PyTorch's SDPA against sealign's grouped attention (sealign/policy/attention.py).

    .venv/bin/python bench/attention.py                    # SmolLM2-135M's heads (9 query, 3 key/value, dim 64)
    .venv/bin/python bench/attention.py --threads 2 --out bench/results/attention.md

Shapes of a real step: a decode step (the query of each of 32 rows against ``--context`` cached keys,
the grouped-query heads packed as transformers packs them for SDPA) and a learner pass (16 sequences
of ``--context`` tokens, causal, forward + backward; and forward alone, as the reference runs).
Both inputs in float32 and in bfloat16; the median of ``--repeats`` timings. Prints a markdown table
(and writes it to ``--out``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.timing import median_ms  # noqa: E402
from sealign.policy.attention import _grouped_attention  # noqa: E402


def cases(dtype: torch.dtype, heads: int, kv_heads: int, dim: int, context: int):
    """``(name, sdpa, grouped)`` closures for each shape."""
    groups = heads // kv_heads
    rows = 32
    query = torch.randn(rows, kv_heads, groups, dim, dtype=dtype)  # one token, packed by key/value head
    key, value = (torch.randn(rows, kv_heads, context, dim, dtype=dtype) for _ in range(2))
    keep = torch.ones(rows, 1, 1, context, dtype=torch.bool)
    keep[: rows // 2, :, :, :8] = False  # left padding
    yield ("decode step (32 rows x 1 token)",
           lambda: F.scaled_dot_product_attention(query, key, value, attn_mask=keep),
           lambda: _grouped_attention(query.view(rows, heads, 1, dim), key, value, keep, None, True))

    batch = 16
    causal = torch.ones(context, context, dtype=torch.bool).tril()[None, None].expand(batch, 1, context, context)

    def leaf(*shape):
        return torch.randn(*shape, dtype=dtype, requires_grad=True)

    q, k, v = leaf(batch, heads, context, dim), leaf(batch, kv_heads, context, dim), leaf(batch, kv_heads, context, dim)

    def sdpa_forward():
        return F.scaled_dot_product_attention(q, k, v, attn_mask=causal, enable_gqa=True)

    def grouped_forward():
        return _grouped_attention(q, k, v, causal, None, True)

    yield (f"learner pass ({batch} x {context} tokens), forward + backward",
           lambda: sdpa_forward().sum().backward(), lambda: grouped_forward().sum().backward())
    yield (f"reference pass ({batch} x {context} tokens), forward",
           lambda: no_grad(sdpa_forward), lambda: no_grad(grouped_forward))


def no_grad(fn):
    with torch.no_grad():
        return fn()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--heads", type=int, default=9)
    parser.add_argument("--kv-heads", type=int, default=3)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--context", type=int, default=128, help="cached keys (decode) / sequence length (learner)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default="", help="also write the table here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lines = [f"Attention on the CPU, {args.heads} query / {args.kv_heads} key-value heads of {args.dim}, "
             f"context {args.context}, {args.threads} thread(s), median of {args.repeats} (ms):", "",
             "| shape | dtype | SDPA | grouped (sealign) | speed-up |", "|---|---|---|---|---|"]
    for dtype in (torch.float32, torch.bfloat16):
        for name, sdpa, grouped in cases(dtype, args.heads, args.kv_heads, args.dim, args.context):
            a, b = median_ms(sdpa, args.repeats), median_ms(grouped, args.repeats)
            lines.append(f"| {name} | {str(dtype).removeprefix('torch.')} | {a:.2f} | {b:.2f} | {a / b:.2f}x |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
