"""Every training objective for a short online run on the built-in task; writes bench/results/losses.md.

    SEALIGN_CACHE=/tmp/sealcache .venv/bin/python bench/losses.py            # all losses, 512 queries each
    .venv/bin/python bench/losses.py --losses dpo simpo --budget 256

Each run is `sealign.run.loop.run` with the online-dpo recipe (passive exploration, BT simulator
oracle) and only the loss (and its documented per-loss settings below) changed. It is a smoke
check that each loss improves on the SFT policy (win rate > 50%), not a comparison of losses:
one seed, a short budget, no tuning.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sealign.config import RunConfig, apply_overrides  # noqa: E402
from sealign.learning.losses import LOSSES  # noqa: E402
from sealign.recipes import get_recipe  # noqa: E402
from sealign.run.loop import run  # noqa: E402

# Settings that differ from the defaults for one loss, with the reason (see docs/losses.md).
PER_LOSS = {
    "simpo": {"beta": 2.0},  # SimPO's length-normalised rewards need its paper's beta (2.0), not DPO's 0.1
}


def bench_config(loss: str, budget: int, seed: int, out_dir: Path) -> RunConfig:
    recipe = get_recipe("online-dpo")
    config = apply_overrides(RunConfig(), {**recipe.settings, "preset": "online-dpo"}, "preset online-dpo")
    return apply_overrides(config, {
        "loss": loss, "budget": budget, "seed": seed, "threads": 1, "out_dir": str(out_dir),
        "run_name": f"{loss}-s{seed}", **PER_LOSS.get(loss, {}),
    }, "bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", nargs="+", default=sorted(LOSSES), choices=sorted(LOSSES))
    parser.add_argument("--budget", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "losses.md")
    parser.add_argument("--runs-dir", type=Path, default=None, help="keep the runs here (default: a temp dir)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="sealign-bench-losses-"))
    rows = []
    for loss in args.losses:
        config = bench_config(loss, args.budget, args.seed, runs_dir)
        if config.run_dir.exists():
            shutil.rmtree(config.run_dir)
        start = time.perf_counter()
        summary = run(config, log=lambda msg: print(msg, file=sys.stderr))
        rows.append((loss, config, summary, time.perf_counter() - start))
        print(f"{loss}: win rate {summary['initial_win_rate']:.3f} -> {summary['final_win_rate']:.3f}, "
              f"reward {summary['initial_reward']:.3f} -> {summary['final_reward']:.3f}", flush=True)
    write_table(args, rows)
    if args.runs_dir is None:
        shutil.rmtree(runs_dir, ignore_errors=True)
    return 0 if all(s["final_win_rate"] > 0.5 for _, _, s, _ in rows) else 1


def write_table(args, rows) -> None:
    lines = [
        "# Every loss, one short online run on the built-in task",
        "",
        f"Online DPO recipe (passive exploration, BT-simulator oracle, batch 32, M = 4 candidates), "
        f"{args.budget} oracle queries per loss, seed {args.seed}, 1 CPU thread; win rate and reward of "
        "the final policy on the 128 held-out prompts against the SFT policy's responses (judge: the "
        "task's ground-truth reward). A smoke check that every objective improves on the SFT policy, "
        "not a ranking: one seed, no tuning.",
        "",
        "| loss | settings | final win rate | best win rate | reward start → end | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for loss, config, s, wall in rows:
        settings = ", ".join(f"{k}={getattr(config, k)}" for k in bench_settings(loss))
        lines.append(
            f"| {loss} | {settings} | {s['final_win_rate']:.3f} | {s['best_win_rate']:.3f} | "
            f"{s['initial_reward']:.3f} → {s['final_reward']:.3f} | {wall:.0f} |"
        )
    command = "SEALIGN_CACHE=" + os.environ.get("SEALIGN_CACHE", "~/.cache/sealign") + " .venv/bin/python " \
        + " ".join(["bench/losses.py", *(sys.argv[1:])])
    lines += ["", "Command:", "", "```", command.strip(), "```", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


def bench_settings(loss: str) -> tuple[str, ...]:
    """The config fields that shape ``loss`` (shown in the table)."""
    return {
        "dpo": ("beta", "label_smoothing"), "ipo": ("beta",), "slic": ("beta",),
        "simpo": ("beta", "gamma_beta_ratio"), "selm": ("beta", "alpha"), "xpo": ("beta", "alpha"),
        "reinforce": ("nudge", "anchor_weight", "anchor_tau"),
    }.get(loss, ("beta",))


if __name__ == "__main__":
    raise SystemExit(main())
