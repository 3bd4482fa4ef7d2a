"""Throughput of an online DPO run: sealign against TRL's OnlineDPOTrainer, same model and settings.

    .venv/bin/python bench/throughput.py          # 5 alternating repeats -> bench/results/throughput.md
    .venv/bin/python bench/throughput.py --repeats 3 --steps 6 --out /tmp/t.md

Both sides train the built-in SFT policy (tiny Llama, its BPE tokenizer) with DPO (beta 0.1, same
learning rate) on the built-in task's prompts: per step B prompts, 2 sampled responses each (TRL's
online DPO samples exactly 2), at most T new tokens at temperature 1, the task's ground-truth
reward deciding which response is chosen (sealign: the BT simulator with ``oracle_deterministic``,
i.e. the higher reward wins; TRL: ``reward_funcs`` = the same reward). One torch thread each.

Each measurement runs in a fresh subprocess (no shared thread pools, caches or allocator state);
the sides alternate, the order flipping every repeat, so machine load hits both alike. A run is
``steps + 1`` optimiser steps; the first is warm-up and excluded. Throughput is prompts (= preference
pairs = oracle queries) per second of steady-state step time; the ratio is taken per repeat and the
median reported. Phases: sealign's own ``time/*`` metrics; TRL's by timing its ``_generate``, reward
and ``_forward`` methods, the rest of its step (backward, optimiser, Trainer) counted as learn.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("generate", "features", "oracle", "learn", "other")


def ensure_policy() -> str:
    from sealign.tasks.builtin import ensure_sft_policy

    return str(ensure_sft_policy(log=lambda msg: print(msg, file=sys.stderr)))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ----------------------------------------------------------------------------------------- sealign
def measure_sealign(args) -> dict:
    """One sealign online-DPO run through the real loop (``sealign.loop.run``)."""
    from sealign.config import RunConfig
    from sealign.loop import run
    from sealign.tracking import read_metrics

    with tempfile.TemporaryDirectory(prefix="sealign-throughput-") as out:
        config = RunConfig(
            out_dir=out, run_name="bench", seed=args.seed, threads=args.threads,
            budget=(args.steps + 1) * args.batch_size, batch_size=args.batch_size,
            micro_batch_size=args.batch_size, num_candidates=2,
            max_new_tokens=args.max_new_tokens, temperature=1.0, lr=args.lr, beta=0.1, explorer=args.explorer,
            oracle_deterministic=True, eval_every=10**6, num_eval_prompts=8, runtime=args.runtime,
            actors=args.actors, staleness=args.staleness,
        )
        run(config, log=lambda _: None)
        steps = [r for r in read_metrics(Path(out) / "bench" / "metrics.jsonl") if "loss" in r]
    steady = steps[1:]  # step 0 is warm-up; time_s of step 0 is the start of the measured window
    wall = steps[-1]["time_s"] - steps[0]["time_s"]
    phases = {
        "generate": sum(r.get("time/generate", 0) for r in steady),
        "features": sum(r.get("time/explore", 0) + r.get("time/explorer_update", 0) for r in steady),
        "oracle": sum(r.get("time/oracle", 0) for r in steady),
        "learn": sum(r.get("time/learn", 0) for r in steady),
    }
    phases["other"] = wall - sum(phases.values())
    return {"side": "sealign", "prompts": len(steady) * args.batch_size, "wall_s": wall,
            "phases_s": phases, "peak_rss_mb": peak_rss_mb()}


# ----------------------------------------------------------------------------------------- TRL
def measure_trl(args) -> dict:
    """One TRL OnlineDPOTrainer run on the same model, prompts, reward and settings."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import warnings

    warnings.filterwarnings("ignore")
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.utils import logging as hf_logging
    from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    from sealign.config import RunConfig
    from sealign.data.prompts import load_prompts
    from sealign.tasks.summarize import prompt_reward

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = ensure_policy()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    prompts = [p.text for p in load_prompts(RunConfig(seed=args.seed))[0]]
    dataset = Dataset.from_dict({"prompt": prompts[: (args.steps + 1) * args.batch_size]})

    def reward(prompts, completions, **_):
        return [prompt_reward(p, c) for p, c in zip(prompts, completions)]

    class StepClock(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_step_end(self, *_, **__):
            self.ends.append(time.perf_counter())

    clock = StepClock()
    with tempfile.TemporaryDirectory(prefix="trl-throughput-") as out:
        trl_args = OnlineDPOConfig(
            output_dir=out, per_device_train_batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
            temperature=1.0, learning_rate=args.lr, beta=[0.1], max_steps=args.steps + 1, warmup_steps=2,
            use_cpu=True, report_to=[], logging_steps=10**6, save_strategy="no", dataloader_num_workers=0,
            seed=args.seed, disable_tqdm=True,
            # Equal settings: TRL's defaults are gradient checkpointing (which also turns off the KV
            # cache in generation) and bf16; sealign runs fp32 without either. --trl-defaults keeps them.
            gradient_checkpointing=args.trl_defaults, bf16=args.trl_defaults,
        )
        trainer = OnlineDPOTrainer(model=model, reward_funcs=reward, args=trl_args, processing_class=tokenizer,
                                   train_dataset=dataset, callbacks=[clock])
        spent = {"generate": [], "oracle": [], "forward": []}
        timed(trainer, "_generate", spent["generate"])
        timed(trainer, "_calculate_rewards_from_functions", spent["oracle"])
        timed(trainer, "_forward", spent["forward"])
        trainer.train()
    wall = clock.ends[-1] - clock.ends[0]
    steady = len(clock.ends) - 1
    phases = {"generate": sum(spent["generate"][-steady:]), "features": 0.0, "oracle": sum(spent["oracle"][-steady:])}
    phases["learn"] = wall - phases["generate"] - phases["oracle"]  # forward, backward, optimiser, Trainer
    phases["other"] = 0.0
    return {"side": "trl", "prompts": steady * args.batch_size, "wall_s": wall, "phases_s": phases,
            "peak_rss_mb": peak_rss_mb()}


def timed(obj, name: str, sink: list[float]) -> None:
    """Wrap the bound method ``obj.name`` so that each call's wall time lands in ``sink``."""
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - start)

    setattr(obj, name, wrapper)


# ----------------------------------------------------------------------------------------- driver
def child(args) -> int:
    import torch

    torch.set_num_threads(args.threads)
    result = measure_sealign(args) if args.side == "sealign" else measure_trl(args)
    Path(args.json).write_text(json.dumps(result))
    return 0


def run_child(side: str, args) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    command = [sys.executable, __file__, "--side", side, "--json", out, "--steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--max-new-tokens", str(args.max_new_tokens),
               "--threads", str(args.threads), "--lr", str(args.lr), "--seed", str(args.seed),
               "--explorer", args.explorer, "--runtime", args.runtime, "--actors", str(args.actors),
               "--staleness", str(args.staleness)] + (["--trl-defaults"] if args.trl_defaults else [])
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    result = json.loads(Path(out).read_text())
    os.unlink(out)
    return result


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("sealign", "torch", "transformers", "trl", "accelerate", "ray"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "-"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8, help="measured optimiser steps per run (plus 1 warm-up)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--explorer", default="passive", help="sealign's explorer (TRL has none)")
    parser.add_argument("--runtime", default="local", choices=["local", "ray"], help="sealign's runtime")
    parser.add_argument("--actors", type=int, default=1)
    parser.add_argument("--staleness", type=int, default=0)
    parser.add_argument("--trl-defaults", action="store_true",
                        help="keep TRL's own defaults (gradient checkpointing, bf16) instead of equal settings")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "throughput.md")
    parser.add_argument("--side", choices=["sealign", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        return child(args)

    ensure_policy()  # built once, outside any measurement
    results: list[tuple[dict, dict]] = []
    for repeat in range(args.repeats):
        order = ("sealign", "trl") if repeat % 2 == 0 else ("trl", "sealign")
        pair = {side: run_child(side, args) for side in order}
        results.append((pair["sealign"], pair["trl"]))
        s, t = (rate(pair[k]) for k in ("sealign", "trl"))
        print(f"repeat {repeat + 1}/{args.repeats}: sealign {s:.1f} prompts/s, TRL {t:.1f} prompts/s, "
              f"ratio {s / t:.2f}", flush=True)
    write_report(args, results)
    return 0


def rate(result: dict) -> float:
    return result["prompts"] / result["wall_s"]


def write_report(args, results: list[tuple[dict, dict]]) -> None:
    ratios = [rate(s) / rate(t) for s, t in results]
    lines = [
        "# Throughput: sealign vs TRL OnlineDPOTrainer (CPU)",
        "",
        f"Online DPO on the built-in task's SFT policy; per step {args.batch_size} prompts x 2 sampled responses, "
        f"at most {args.max_new_tokens} new tokens, temperature 1, reward = the task's ground truth, "
        f"{args.threads} torch thread(s), {args.steps} measured steps per run (+1 warm-up), "
        f"{args.repeats} alternating repeats in fresh processes. sealign: runtime {args.runtime}, "
        f"explorer {args.explorer}. TRL: "
        + ("its defaults (gradient checkpointing, bf16)" if args.trl_defaults else
           "fp32, no gradient checkpointing (KV cache on), as sealign")
        + ". A *prompt* is one preference pair (two responses, one query, one DPO pair).",
        "",
        "| side | prompts/s (median) | per repeat | " + " | ".join(f"{p} s/step" for p in PHASES) + " | peak RSS MB |",
        "|---|---|---|" + "---|" * len(PHASES) + "---|",
    ]
    for k, side in enumerate(("sealign", "TRL")):
        runs = [pair[k] for pair in results]
        steps = [r["prompts"] / args.batch_size for r in runs]
        per_phase = [statistics.median(r["phases_s"][p] / n for r, n in zip(runs, steps)) for p in PHASES]
        lines.append(
            f"| {side} | {statistics.median(rate(r) for r in runs):.1f} | "
            + ", ".join(f"{rate(r):.1f}" for r in runs) + " | "
            + " | ".join(f"{v:.3f}" for v in per_phase)
            + f" | {max(r['peak_rss_mb'] for r in runs):.0f} |"
        )
    lines += [
        "",
        f"**Median ratio sealign / TRL: {statistics.median(ratios):.2f}x** "
        f"(per repeat: {', '.join(f'{r:.2f}' for r in ratios)}).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + f"; {os.cpu_count()} CPU cores.",
        "",
        "Command:",
        "",
        "```",
        " ".join([".venv/bin/python", "bench/throughput.py", *(sys.argv[1:])]).strip(),
        "```",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
