"""`sealign compare`: several presets over several seeds, side by side (one plot, one table).

Each (preset, seed) is an ordinary `sealign run` in its own process, so runs are isolated, can go
in parallel where cores allow, and each leaves a normal run directory that re-runs exactly.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sealign.errors import UserError
from sealign.plot import eval_curve, plot_runs
from sealign.recipes import get_recipe

THRESHOLDS = (0.6, 0.7, 0.8)


@dataclass
class PresetResult:
    preset: str
    run_dirs: list[Path]
    final: list[float]
    auc: list[float]
    wall: list[float]
    to_reach: dict[float, list[float | None]]


def run_all(presets: list[str], seeds: int, out_dir: Path, extra_args: list[str], jobs: int,
            log=print) -> list[Path]:
    """Run every (preset, seed) as `sealign run` subprocesses, ``jobs`` at a time."""
    for preset in presets:  # NAME or NAME:VARIANT; unknown names fail before anything starts
        name, _, variant = preset.partition(":")
        get_recipe(name).settings_for(int(variant) if variant.isdigit() else None)
        if variant and not variant.isdigit():
            raise UserError(f"preset {preset!r}: the variant after ':' must be a number")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    queue = [(p, s) for s in range(seeds) for p in presets]
    running: list[tuple[subprocess.Popen, Path, object]] = []
    done: list[Path] = []
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    while queue or running:
        while queue and len(running) < jobs:
            preset, seed = queue.pop(0)
            name = f"{preset.replace(':', '-v')}-s{seed}"
            preset_name, _, variant = preset.partition(":")
            run_dir = out_dir / "runs" / name
            if (run_dir / "summary.json").exists():  # finished earlier: comparisons resume
                done.append(run_dir)
                continue
            if run_dir.exists():
                raise UserError(f"{run_dir} holds an unfinished run; delete it and compare again")
            cmd = [sys.executable, "-m", "sealign.cli", "run", "--preset", preset_name, "--seed", str(seed),
                   *(["--variant", variant] if variant else []),
                   "--out-dir", str(out_dir / "runs"), "--run-name", name, "--threads", str(threads), *extra_args]
            log_file = open(out_dir / "logs" / f"{name}.log", "w")
            log(f"start {name}")
            running.append((subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT), run_dir, log_file))
        time.sleep(0.5)
        for item in list(running):
            proc, run_dir, log_file = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log_file.close()
            if proc.returncode != 0:
                for other, _, other_log in running:
                    other.kill()
                    other_log.close()
                tail = (out_dir / "logs" / f"{run_dir.name}.log").read_text().strip().splitlines()[-1:]
                raise UserError(f"run {run_dir.name} failed: {tail[0] if tail else 'no output'} "
                                f"(log: {out_dir / 'logs' / (run_dir.name + '.log')})")
            log(f"done  {run_dir.name}")
            done.append(run_dir)
    return done


def summarise(run_dirs: list[Path]) -> list[PresetResult]:
    by_preset: dict[str, list[Path]] = {}
    for run_dir in sorted(run_dirs):
        summary = json.loads((run_dir / "summary.json").read_text())
        by_preset.setdefault(summary["preset"], []).append(run_dir)
    results = []
    for preset, dirs in by_preset.items():
        result = PresetResult(preset, dirs, [], [], [], {t: [] for t in THRESHOLDS})
        for run_dir in dirs:
            xs, ys = eval_curve(run_dir)
            summary = json.loads((run_dir / "summary.json").read_text())
            result.final.append(ys[-1])
            result.auc.append(area_under_curve(xs, ys, hold=schedule_of(run_dir) != "online"))
            result.wall.append(summary["wall_time_s"])
            for t in THRESHOLDS:
                result.to_reach[t].append(queries_to_reach(xs, ys, t))
        results.append(result)
    return results


def area_under_curve(xs: list[int], ys: list[float], hold: bool = False) -> float:
    """Mean win rate over the query budget, normalised by the budget spent.

    Online policies change at every step, so the curve between evaluations is drawn as trapezoids.
    A collect-then-train schedule (``hold``) deploys a fixed policy until its next training round:
    each evaluation's value holds until the next one (a step function), so offline DPO, whose SFT
    policy collected the whole budget, scores the SFT policy's win rate.
    """
    if len(xs) < 2 or xs[-1] == xs[0]:
        return ys[-1]
    if hold:
        area = sum((x1 - x0) * y0 for x0, x1, y0 in zip(xs, xs[1:], ys))
    else:
        area = sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:]))
    return area / (xs[-1] - xs[0])


def schedule_of(run_dir: Path) -> str:
    """The schedule a run directory's config.yaml names ('online' when it has none)."""
    import yaml

    config_file = run_dir / "config.yaml"
    config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else None
    return (config or {}).get("schedule", "online")


def queries_to_reach(xs: list[int], ys: list[float], threshold: float) -> int | None:
    return next((x for x, y in zip(xs, ys) if y >= threshold), None)


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def _reach(values: list[int | None]) -> str:
    reached = [v for v in values if v is not None]
    if not reached:
        return "never"
    median = statistics.median(reached)
    return f"{median:.0f}" + ("" if len(reached) == len(values) else f" ({len(reached)}/{len(values)} seeds)")


def write_report(results: list[PresetResult], out_dir: Path, command: str, log_x: bool) -> Path:
    header = ["preset", "seeds", "final win rate", "AUC", *[f"queries to {t:.0%}" for t in THRESHOLDS], "wall s"]
    rows = [
        [r.preset, str(len(r.final)), _mean_std(r.final), _mean_std(r.auc),
         *[_reach(r.to_reach[t]) for t in THRESHOLDS], f"{statistics.fmean(r.wall):.0f}"]
        for r in results
    ]
    with open(out_dir / "comparison.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    plot_runs([d for r in results for d in r.run_dirs], out_dir / "winrate.png", log_x=log_x,
              title="win rate vs queries")
    lines = [
        "# Comparison", "", f"Command: `{command}`", "",
        "Win rate against the SFT policy (mean ± std over seeds); AUC = mean win rate over the budget (a "
        "collect-then-train schedule holds each round's value until its next round); "
        "queries to X = median over the seeds that reached X.", "",
        "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
        *["| " + " | ".join(row) + " |" for row in rows], "", "![win rate vs queries](winrate.png)", "",
    ]
    (out_dir / "comparison.md").write_text("\n".join(lines))
    return out_dir / "comparison.md"
