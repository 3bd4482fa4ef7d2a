"""The AdamW step alone on a real model's weights: the default multi-tensor path against the fused one.

    .venv/bin/python bench/optimizer_step.py --policy smollm2-135m     # SEALIGN_CACHE holding the model
    .venv/bin/python bench/optimizer_step.py                           # the built-in policy

Each implementation runs in a fresh process (one thread): the optimiser's state is created by a
first step, then ``--steps`` steps on fixed random gradients are timed. Peak RSS (``ru_maxrss``)
against the RSS at the end, when weights, gradients and moments are all allocated: the difference is
what the implementation's temporaries cost at their peak. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

IMPLEMENTATIONS = {"foreach (default)": {"foreach": True}, "fused (sealign)": {"fused": True}}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def measure(policy: str, settings: dict, steps: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from sealign.policy.registry import resolve_policy
    from sealign.policy.settings import PolicySettings

    torch.set_num_threads(1)
    folder = resolve_policy(policy, None, PolicySettings.sft_steps, log=lambda msg: print(msg, file=sys.stderr))
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    params = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator) * 1e-3
    optimizer = torch.optim.AdamW(params, lr=1e-5, **settings)
    times = []
    optimizer.step()  # creates the moments
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.step()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"step_s": statistics.median(times), "peak_rss_mb": peak, "rss_mb": rss_mb(),
            "parameters": sum(p.numel() for p in params)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="builtin")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.policy, IMPLEMENTATIONS[args.child], args.steps)))
        return 0
    print(f"AdamW step on {args.policy!r}, one thread, median of {args.steps} steps\n")
    print("| implementation | parameters | step s | peak RSS MB | RSS after MB | temporaries at peak MB |")
    print("|---|---|---|---|---|---|")
    for name in IMPLEMENTATIONS:
        out = subprocess.run([sys.executable, __file__, "--policy", args.policy, "--steps", str(args.steps),
                              "--child", name], check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {name} | {r['parameters'] / 1e6:.1f}M | {r['step_s']:.3f} | {r['peak_rss_mb']:.0f} | "
              f"{r['rss_mb']:.0f} | {max(0.0, r['peak_rss_mb'] - r['rss_mb']):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
