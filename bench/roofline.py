"""The matrix-product floor under an online-DPO step: its FLOPs against this core's best GEMM rate.

    .venv/bin/python bench/roofline.py --policy smollm2-135m            # fp32, one thread
    .venv/bin/python bench/roofline.py --policy smollm2-135m --dtype bfloat16

Times plain matrix products (a square 2048^3 one and the shapes of a decode step and a learner
pass), the memory bandwidth, and one step as a run takes it (``load_policy``, ``PreferenceLearner``:
sampling 2 responses for each of ``--batch-size`` prompts, then a learner step), and counts the
step's matrix-product FLOPs with ``torch.profiler(with_flops=True)``. The floor is those FLOPs at
the best rate measured: however the rest of the step were sped up, it cannot run faster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
from throughput import ensure_policy, task_of  # noqa: E402  (bench/ is not a package on sys.path)
from timing import fastest_s as fastest  # noqa: E402


def gemm_rates(dtype: torch.dtype, repeats: int, size: int = 2048) -> dict[str, float]:
    """GFLOP/s of ``size``^3 and of SmolLM2's MLP shape (576 -> 1536) at 16 and 1024 rows."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    rates = {f"{size}^3": 2 * size**3 / fastest(lambda: a @ b, repeats) / 1e9}
    weight = torch.randn(1536, 576, dtype=dtype)
    for rows in (16, 1024):
        x = torch.randn(rows, 576, dtype=dtype)
        seconds = fastest(lambda x=x: torch.nn.functional.linear(x, weight), repeats)
        rates[f"{rows} x 576 x 1536"] = 2 * rows * 576 * 1536 / seconds / 1e9
    return rates


def read_bandwidth(repeats: int, megabytes: int = 256) -> float:
    """GB/s of summing a ``megabytes`` float32 tensor (a decode step reads every weight once)."""
    data = torch.randn(megabytes * 2**20 // 4)
    return data.numel() * 4 / fastest(data.sum, repeats) / 1e9


def counted_gflop(fn) -> float:
    """The matrix-product GFLOP ``fn()`` runs (what ``torch.profiler`` counts: mm, addmm, bmm, ...)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        fn()
    return sum(e.flops for e in prof.key_averages() if e.flops) / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="smollm2-135m")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                        help="of the GEMM rates, and bfloat16 = the step under --mixed-precision bf16")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gemm-size", type=int, default=2048)
    args = parser.parse_args(argv)

    from sealign.config import RunConfig
    from sealign.data.prompts import load_prompts
    from sealign.learning.learner import PreferenceLearner
    from sealign.policy import load_policy
    from sealign.records.types import PreferenceBatch

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    rates = gemm_rates(dtype, args.repeats, args.gemm_size)
    bandwidth = read_bandwidth(args.repeats)
    config = RunConfig(policy=args.policy, task=task_of(args.policy), batch_size=args.batch_size,
                       micro_batch_size=args.batch_size, device="cpu",
                       mixed_precision="bf16" if dtype == torch.bfloat16 else "no").validate()
    policy = load_policy(config, ensure_policy(args.policy))
    learner = PreferenceLearner(policy, config)
    prompts = policy.encode_prompts([p.text for p in load_prompts(config)[0][:args.batch_size]])

    def sample():
        torch.manual_seed(0)
        return policy.generate(prompts, n=2, temperature=1.0, max_new_tokens=args.max_new_tokens)

    samples = sample()
    batch = PreferenceBatch(prompts, [g[0] for g in samples], [g[1] for g in samples])
    learner.step(batch)  # warm-up
    learn_s = fastest(lambda: learner.step(batch), 1)
    sample_s = fastest(sample, 1)
    learn_gflop, sample_gflop = counted_gflop(lambda: learner.step(batch)), counted_gflop(sample)
    best = max(rates.values())
    floor = (learn_gflop + sample_gflop) / best
    weights_mb = sum(p.numel() * p.element_size() for p in policy.model.parameters()) / 1e6
    lines = [
        f"# Matrix-product floor: {args.policy}, {args.dtype}, {args.threads} thread(s), "
        f"{args.batch_size} prompts x 2 responses of <= {args.max_new_tokens} tokens",
        "",
        "| product | GFLOP/s |", "|---|---|",
        *[f"| {name} | {rate:.0f} |" for name, rate in rates.items()],
        "",
        f"Read bandwidth: {bandwidth:.1f} GB/s ({weights_mb:.0f} MB of weights a decode step: "
        f"{weights_mb / 1e3 / bandwidth * 1e3:.0f} ms).",
        f"Tokens: {sum(map(len, prompts))} prompt, {sum(len(r) for g in samples for r in g)} response.",
        "",
        "| phase | measured s | matrix-product GFLOP | at the best rate, s |", "|---|---|---|---|",
        f"| learner step | {learn_s:.2f} | {learn_gflop:.3f} | {learn_gflop / best:.2f} |",
        f"| sampling | {sample_s:.2f} | {sample_gflop:.3f} | {sample_gflop / best:.2f} |",
        f"| step | {learn_s + sample_s:.2f} | {learn_gflop + sample_gflop:.3f} | **{floor:.2f}** |",
        "",
        f"The step can run at most {(learn_s + sample_s) / floor:.2f}x faster on its matrix products alone.",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
