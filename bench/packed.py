"""A decode step's matrix products on the CPU: PyTorch's default linear against oneDNN with packed weights.

    .venv/bin/python bench/packed.py                                  # SmolLM2-135M's shapes, 16 rows
    .venv/bin/python bench/packed.py --threads 2 --rows 32
    .venv/bin/python bench/packed.py --policy smollm2-135m            # and whole decode loops, both ways

The shapes are a SmolLM2-135M layer's (576 hidden, 1536 MLP, 192 key/value) and its 49k-column LM
head, for ``--rows`` running responses; float32 and bfloat16; the median of ``--repeats``. With
``--policy`` it also samples 8 prompts x 2 responses of 48 tokens from that policy with and without
``sealign.policy.packed.packed_linears`` (alternating, one process). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.timing import median_ms  # noqa: E402

SHAPES = {"q/o (576 x 576)": (576, 576), "k/v (192 x 576)": (192, 576), "gate/up (1536 x 576)": (1536, 576),
          "down (576 x 1536)": (576, 1536), "LM head (49152 x 576)": (49152, 576)}


def shape_table(rows: int, repeats: int) -> list[str]:
    """One row per shape and dtype oneDNN packs in on this CPU (bfloat16 needs its bf16 kernels)."""
    from sealign.policy.packed import packs_in

    lines = ["| weight | dtype | default ms | packed ms | speed-up |", "|---|---|---|---|---|"]
    for dtype in (d for d in (torch.float32, torch.bfloat16) if packs_in(d)):
        for name, (out_features, in_features) in SHAPES.items():
            weight = torch.randn(out_features, in_features, dtype=dtype)
            x = torch.randn(rows, in_features, dtype=dtype)
            packed = torch.ops.mkldnn._reorder_linear_weight(weight, rows)
            n = max(3, repeats // 10) if out_features > 10000 else repeats
            default = median_ms(lambda x=x, w=weight: F.linear(x, w), n, warmup=1)
            fast = median_ms(lambda x=x, w=packed: torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], ""),
                             n, warmup=1)
            lines.append(f"| {name} | {str(dtype).removeprefix('torch.')} | {default:.3f} | {fast:.3f} | "
                         f"{default / fast:.2f}x |")
    return lines


def decode_table(policy_name: str, repeats: int) -> list[str]:
    from types import SimpleNamespace

    from sealign.policy import load_policy
    from sealign.policy.hf import HFPolicy
    from sealign.policy.registry import resolve_policy

    folder = resolve_policy(policy_name, None, 700, log=lambda msg: print(msg, file=sys.stderr))
    packed_method = HFPolicy.packed_weights
    lines = ["| policy | default s | packed s | speed-up |", "|---|---|---|---|"]
    for mixed_precision in ("no", "bf16"):
        config = SimpleNamespace(device="cpu", dtype="float32", mixed_precision=mixed_precision, lora_r=0, seed=0)
        policy = load_policy(config, folder)
        prompts = policy.encode_prompts([f"Write a short answer about topic {i} and why it matters." for i in range(8)])
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(repeats):
            for packed in (False, True):
                HFPolicy.packed_weights = packed_method if packed else (lambda *_: contextlib.nullcontext())
                start = time.perf_counter()
                policy.generate(prompts, n=2, max_new_tokens=48, seeds=list(range(8)))
                times[packed].append(time.perf_counter() - start)
        HFPolicy.packed_weights = packed_method
        default, fast = statistics.median(times[False]), statistics.median(times[True])
        lines.append(f"| {policy_name}, {'bf16' if mixed_precision == 'bf16' else 'fp32'} | {default:.2f} | "
                     f"{fast:.2f} | {default / fast:.2f}x |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--policy", default="", help="also time whole decode loops of this policy (e.g. smollm2-135m)")
    args = parser.parse_args(argv)
    from sealign.policy.packed import available

    if not available():
        print("this torch build has no oneDNN linear ops: nothing to compare", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"{args.rows} rows, {args.threads} thread(s), median of {args.repeats} (the LM head: fewer)\n")
    print("\n".join(shape_table(args.rows, args.repeats)))
    if args.policy:
        print(f"\n8 prompts x 2 responses of 48 tokens, median of {max(1, args.repeats // 10)} alternating\n")
        print("\n".join(decode_table(args.policy, max(1, args.repeats // 10))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
