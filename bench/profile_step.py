"""Where one online-DPO step spends its time: ``torch.profiler`` over sampling and the learner step.

    .venv/bin/python bench/profile_step.py --policy smollm2-135m --lora-r 16
    .venv/bin/python bench/profile_step.py --policy smollm2-135m --sealign-set mixed_precision=bf16

Builds the policy and learner as a run does (``load_policy``, ``PreferenceLearner``), samples 2
responses for each of ``--batch-size`` prompts of the policy's task, takes one warm-up step, then
profiles one more: the operators that take the most self CPU time, per phase, as a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from throughput import ensure_policy, parse_sealign_sets, task_of  # noqa: E402  (bench/ is not a package on sys.path)


def table(profile, rows: int) -> list[str]:
    events = sorted(profile.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    lines = ["| operator | self CPU s | share | calls |", "|---|---|---|---|"]
    for e in events[:rows]:
        seconds, share = e.self_cpu_time_total / 1e6, e.self_cpu_time_total / total
        lines.append(f"| `{e.key}` | {seconds:.2f} | {share:.0%} | {e.count} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="builtin")
    parser.add_argument("--lora-r", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--sealign-set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    import torch
    from torch.profiler import ProfilerActivity, profile

    from sealign.config import RunConfig
    from sealign.data.prompts import load_prompts
    from sealign.learning.learner import PreferenceLearner
    from sealign.policy import load_policy
    from sealign.records.types import PreferenceBatch

    torch.set_num_threads(args.threads)
    config = RunConfig(policy=args.policy, task=task_of(args.policy), lora_r=args.lora_r,
                       lora_alpha=max(args.lora_r, 1),
                       batch_size=args.batch_size, micro_batch_size=args.batch_size, device="cpu",
                       **parse_sealign_sets(args.sealign_set)).validate()
    policy = load_policy(config, ensure_policy(args.policy))
    learner = PreferenceLearner(policy, config)
    texts = [p.text for p in load_prompts(config)[0]]
    batches = [policy.encode_prompts(texts[k * args.batch_size:(k + 1) * args.batch_size]) for k in range(2)]

    def step(prompts):
        start = time.perf_counter()
        samples = policy.generate(prompts, n=2, temperature=1.0, max_new_tokens=args.max_new_tokens)
        middle = time.perf_counter()
        learner.step(PreferenceBatch(prompts, [g[0] for g in samples], [g[1] for g in samples]))
        return middle - start, time.perf_counter() - middle, samples

    step(batches[0])  # warm-up
    out = [f"# One step profiled: {args.policy}, LoRA r {args.lora_r}, batch {args.batch_size} x 2 responses, "
           f"{args.max_new_tokens} new tokens, {args.threads} threads, {' '.join(args.sealign_set) or 'defaults'}", ""]
    torch.manual_seed(0)
    with profile(activities=[ProfilerActivity.CPU]) as sampling:
        samples = policy.generate(batches[1], n=2, temperature=1.0, max_new_tokens=args.max_new_tokens)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as learning:
        learner.step(PreferenceBatch(batches[1], [g[0] for g in samples], [g[1] for g in samples]))
    generate_s, learn_s, _ = step(batches[1])  # unprofiled timing of the same work
    tokens = sum(len(r) for g in samples for r in g)
    out += [f"Unprofiled: generate {generate_s:.2f} s, learner step {learn_s:.2f} s; {tokens} response tokens.", "",
            "## Sampling", "", *table(sampling, args.rows), "", "## Learner step (policy forward + backward, "
            "reference forward, optimiser)", "", *table(learning, args.rows), ""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
