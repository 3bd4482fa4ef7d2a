"""What ``--mixed-precision bf16`` does for speed on a CPU without bf16 in hardware: float32 against
bf16, a decode loop and a learner step, on this CPU as it is and limited to older instruction sets.

    .venv/bin/python bench/bf16_fallback.py                                  # the built-in policy
    .venv/bin/python bench/bf16_fallback.py --policy smollm2-135m --lora-r 16  # SmolLM2-135M, --preset real's LoRA

A CPU without AVX-512 (an AMD EPYC before Zen 4) is emulated with ``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN
then reports no bf16 kernels: ``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` is False, as there)
and ``ATEN_CPU_CAPABILITY=avx2`` (PyTorch's own kernels at AVX2). On such a CPU sealign takes its
plain paths under bf16 (no packed linears, SDPA attention; sealign/policy/hardware.py): this times
them. A CPU with AVX-512 but no avx512_bf16 (Skylake-SP, Cascade Lake) is emulated with
``ONEDNN_MAX_CPU_ISA=AVX512_CORE``: oneDNN's bf16 kernels then convert to float32 in software, and
sealign keeps its fast paths. ``--cpus`` picks rows by their position (0 = this CPU as it is).

Each CPU runs in a fresh subprocess on one thread, holding a float32 and a bf16 policy and timing
them alternately (the order flipping every repeat), so load from other processes hits both alike;
the median of ``--repeats`` after one warm-up each. Decode: 8 prompts x 2 responses of
``--max-new-tokens``; learner: one DPO step on those 8 pairs (policy forward and backward, the
reference's forward, AdamW).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

CPUS = {"this CPU": {},
        "AVX-512, no avx512_bf16 (emulated)": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
        "AVX2 only (emulated)": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}
"""Each row's environment: oneDNN (and for AVX2 PyTorch's own kernels) limited to what that CPU has."""
PRECISIONS = ("no", "bf16")


def measure(policy_name: str, lora_r: int, max_new_tokens: int, repeats: int) -> dict:
    """Median seconds of a decode loop and of a learner step for each precision, in this process."""
    import torch

    from sealign.config import RunConfig
    from sealign.learning.learner import PreferenceLearner
    from sealign.policy import hardware, load_policy
    from sealign.policy.registry import resolve_policy
    from sealign.records.types import PreferenceBatch

    torch.set_num_threads(1)
    folder = resolve_policy(policy_name, None, 700, log=lambda msg: print(msg, file=sys.stderr))
    setups = {}
    for precision in PRECISIONS:
        torch.manual_seed(0)
        config = RunConfig(policy=folder, device="cpu", mixed_precision=precision, lora_r=lora_r, micro_batch_size=8,
                           max_new_tokens=max_new_tokens, lr=1e-5)
        policy = load_policy(config, folder)
        setups[precision] = (policy, PreferenceLearner(policy, config))
    prompts = setups["no"][0].encode_prompts([f"Write a short answer about topic {i} and why it matters."
                                              for i in range(8)])
    times = {(precision, phase): [] for precision in PRECISIONS for phase in ("decode", "learn")}
    for repeat in range(repeats + 1):  # the first is a warm-up
        for precision in PRECISIONS if repeat % 2 else PRECISIONS[::-1]:
            policy, learner = setups[precision]
            start = time.perf_counter()
            samples = policy.generate(prompts, n=2, max_new_tokens=max_new_tokens, seeds=list(range(8)))
            times[precision, "decode"].append(time.perf_counter() - start)
            batch = PreferenceBatch(prompts, [g[0] for g in samples], [g[1] for g in samples])
            start = time.perf_counter()
            learner.step(batch)
            times[precision, "learn"].append(time.perf_counter() - start)
    medians = {f"{phase}_{precision}": statistics.median(values[1:]) for (precision, phase), values in times.items()}
    return {**medians, "onednn_bf16": hardware.onednn_bf16()}


def run_cpu(env: dict, args) -> dict:
    command = [sys.executable, __file__, "--policy", args.policy, "--lora-r", str(args.lora_r),
               "--max-new-tokens", str(args.max_new_tokens), "--repeats", str(args.repeats), "--cell"]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the run with {env or 'this CPU'} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="builtin")
    parser.add_argument("--lora-r", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", default="0,1,2", help="rows of CPUS to measure, by position")
    parser.add_argument("--cell", action="store_true", help=argparse.SUPPRESS)  # one CPU's subprocess
    args = parser.parse_args(argv)
    if args.cell:
        print(json.dumps(measure(args.policy, args.lora_r, args.max_new_tokens, args.repeats)))
        return 0
    lines = [f"{args.policy}{f', LoRA r {args.lora_r}' if args.lora_r else ', full fine-tune'}, 8 prompts x 2 "
             f"responses of {args.max_new_tokens} tokens, 1 thread, median of {args.repeats} (s):", "",
             "| CPU | oneDNN bf16 | decode fp32 | decode bf16 | bf16 / fp32 | learner step fp32 | learner step bf16 "
             "| bf16 / fp32 |", "|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for cpu in [list(CPUS)[int(i)] for i in args.cpus.split(",")]:  # a row as soon as it is measured
        t = run_cpu(CPUS[cpu], args)
        print(f"| {cpu} | {'yes' if t['onednn_bf16'] else 'no'} | "
              f"{t['decode_no']:.2f} | {t['decode_bf16']:.2f} | {t['decode_bf16'] / t['decode_no']:.2f}x | "
              f"{t['learn_no']:.2f} | {t['learn_bf16']:.2f} | {t['learn_bf16'] / t['learn_no']:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
