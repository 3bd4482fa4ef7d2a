"""`sealign compare`: several presets over several seeds, side by side (one plot, one table).

Each (preset, seed) is an ordinary `sealign run` in its own process, so runs are isolated, can go
in parallel where cores allow, and each leaves a normal run directory that re-runs exactly.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sealign.curves import (
    RunCosts,
    area_under_curve,
    holds_between_evaluations,
    queries_to_reach,
    query_saving,
    run_costs,
)
from sealign.errors import UserError
from sealign.plot import eval_curve, eval_records, plot_runs
from sealign.recipes import get_recipe
from sealign.stats import RESAMPLES, Interval, geometric_mean_ratio, paired_bootstrap

THRESHOLDS = (0.6, 0.7, 0.8)
# Below 6 paired seeds even differences all of one sign arise by chance more than 5% of the time
# (2 * 0.5 ** n >= 0.0625), yet the percentile interval of such seeds always excludes 0: no `*` then.
MIN_SEEDS_TO_MARK = 6
# Per-seed finals that keep moving when the win rate saturates near 1 (summary table, paired differences):
# (label, PresetResult attribute).
FINAL_METRICS = (("final win rate", "final"), ("final win prob", "win_prob"), ("final reward", "reward"))


@dataclass
class PresetResult:
    """One preset's runs, one entry per seed in every list (None: the run did not record that metric)."""

    preset: str
    run_dirs: list[Path] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    win_prob: list[float | None] = field(default_factory=list)  # eval/win_prob: mean P(policy > SFT)
    reward: list[float | None] = field(default_factory=list)  # eval/reward: only tasks with a reward function
    auc: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    to_reach: dict[float, list[float | None]] = field(default_factory=lambda: {t: [] for t in THRESHOLDS})
    curves: list[tuple[list[int], list[float]]] = field(default_factory=list)
    reward_curves: list[tuple[list[int], list[float]] | None] = field(default_factory=list)
    holds: list[bool] = field(default_factory=list)  # round-based: each value holds until the next round
    costs: list[RunCosts] = field(default_factory=list)


@dataclass
class PairedComparison:
    """A preset against the baseline, seed s against seed s (the seeds both ran)."""

    preset: str
    baseline: str
    seeds: list[int]
    unpaired: list[int]  # seeds only one of the two ran: left out
    diffs: dict[str, Interval]  # label -> preset minus baseline; absent when no pair has the metric
    saving: Interval | None  # query saving (baseline queries / preset queries), geometric mean
    never_reached: int  # pairs whose preset never reached the baseline's final win rate: an upper bound
    trivial: int  # pairs left out: the baseline's final win rate was no better than its start
    # the same saving read on the ground-truth reward curve (tasks with a reward function): it keeps
    # moving where the win rate saturates near 1
    reward_saving: Interval | None = None
    reward_never_reached: int = 0
    reward_trivial: int = 0


@dataclass(frozen=True)
class Arm:
    """One compared setting: a preset (NAME or NAME:VARIANT) with its own settings, under a label."""

    label: str
    preset: str
    args: tuple[str, ...] = ()
    run_prefix: str = ""  # run directories are RUN_PREFIX-sSEED; default: the label

    def __post_init__(self):
        if not self.run_prefix:
            object.__setattr__(self, "run_prefix", self.label.replace(":", "-v"))


ARM_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]*$")


def parse_arm(text: str) -> Arm:
    """``LABEL=PRESET[:VARIANT] [--setting value ...]`` (``--arm``) as an Arm."""
    label, sep, spec = text.partition("=")
    words = shlex.split(spec)
    if not sep or not words or not ARM_LABEL.match(label.strip()):
        raise UserError(f"--arm {text!r}: expected LABEL=PRESET [--setting value ...], e.g. "
                        "--arm 'ids=sea:2 --explorer ids' (a label of letters, digits and _.:+-)")
    return Arm(label.strip(), words[0], tuple(words[1:]))


def preset_arm(preset: str) -> Arm:
    """A preset compared as it is (``--presets``), labelled as its runs' summary.json names it."""
    return Arm(preset_label(preset), preset, run_prefix=preset.replace(":", "-v"))


def check_arms(arms: list[Arm]) -> None:
    """Unknown presets, bad variants and clashing labels fail before any run starts."""
    for arm in arms:
        name, _, variant = arm.preset.partition(":")
        if variant and not variant.isdigit():
            raise UserError(f"preset {arm.preset!r}: the variant after ':' must be a number")
        get_recipe(name).settings_for(int(variant) if variant else None)
    labels = [arm.label for arm in arms]
    if len(set(labels)) < len(labels):
        raise UserError(f"two compared arms share a label ({', '.join(labels)}); give each its own")


def run_all(arms: list[Arm], seeds: int, out_dir: Path, extra_args: list[str], jobs: int,
            log=print) -> list[tuple[str, Path]]:
    """Run every (arm, seed) as `sealign run` subprocesses, ``jobs`` at a time; (label, run dir) of each."""
    check_arms(arms)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    queue = [(arm, s) for s in range(seeds) for arm in arms]
    running: list[tuple[subprocess.Popen, Path, object, str]] = []
    done: list[tuple[str, Path]] = []
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    while queue or running:
        while queue and len(running) < jobs:
            arm, seed = queue.pop(0)
            name = f"{arm.run_prefix}-s{seed}"
            run_dir = out_dir / "runs" / name
            if (run_dir / "summary.json").exists():  # finished earlier: comparisons resume
                done.append((arm.label, run_dir))
                continue
            if run_dir.exists():
                raise UserError(f"{run_dir} holds an unfinished run; delete it and compare again")
            cmd = [*run_command(arm, seed, out_dir / "runs", name), "--threads", str(threads),
                   *extra_args, *arm.args]
            log_file = open(out_dir / "logs" / f"{name}.log", "w")
            log(f"start {name}")
            running.append((subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT), run_dir, log_file,
                            arm.label))
        time.sleep(0.5)
        for item in list(running):
            proc, run_dir, log_file, label = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log_file.close()
            if proc.returncode != 0:
                for other, _, other_log, _ in running:
                    other.kill()
                    other_log.close()
                tail = (out_dir / "logs" / f"{run_dir.name}.log").read_text().strip().splitlines()[-1:]
                raise UserError(f"run {run_dir.name} failed: {tail[0] if tail else 'no output'} "
                                f"(log: {out_dir / 'logs' / (run_dir.name + '.log')})")
            log(f"done  {run_dir.name}")
            done.append((label, run_dir))
    return done


def run_command(arm: Arm, seed: int, runs_dir: Path, name: str) -> list[str]:
    """The `sealign run` command line of one (arm, seed), before the thread count and extra settings."""
    preset_name, _, variant = arm.preset.partition(":")
    return [sys.executable, "-m", "sealign.cli", "run", "--preset", preset_name, "--seed", str(seed),
            *(["--variant", variant] if variant else []), "--out-dir", str(runs_dir), "--run-name", name]


def preset_label(preset: str) -> str:
    """The name a run's summary.json gives ``preset`` (NAME or NAME:VARIANT): a recipe run without a
    variant records its default one (``sea`` runs as ``sea:3``), so --baseline sea finds its rows."""
    name, _, variant = preset.partition(":")
    settings = get_recipe(name).settings_for(int(variant) if variant.isdigit() else None)
    return name + (f":{settings['variant']}" if settings.get("variant") else "")


def label_of(preset: str) -> str:
    """``preset``'s label in a comparison, or ``preset`` itself where no recipe has that name."""
    try:
        return preset_label(preset)
    except UserError:
        return preset


def summarise(runs: list[Path] | list[tuple[str, Path]]) -> list[PresetResult]:
    """Per-seed finals and curves of each arm. ``runs``: run dirs, grouped by the preset their summary.json
    names, or (label, run dir) pairs, grouped by label (arms of one preset with different settings)."""
    by_preset: dict[str, list[Path]] = {}
    labelled = [run if isinstance(run, tuple) else (None, run) for run in runs]
    for label, run_dir in sorted(labelled, key=lambda item: str(item[1])):
        if label is None:
            label = json.loads((run_dir / "summary.json").read_text())["preset"]
        by_preset.setdefault(label, []).append(run_dir)
    results = []
    for preset, dirs in by_preset.items():
        result = PresetResult(preset, dirs)
        for run_dir in dirs:
            records = eval_records(run_dir)
            if not records:
                raise UserError(f"{run_dir} has no evaluation in metrics.jsonl")
            xs, ys = eval_curve(run_dir)
            hold = holds_between_evaluations(run_dir)
            summary = json.loads((run_dir / "summary.json").read_text())
            result.seeds.append(seed_of(run_dir))
            result.final.append(ys[-1])
            result.win_prob.append(_finite(records[-1].get("eval/win_prob")))
            result.reward.append(_finite(records[-1].get("eval/reward")))
            result.auc.append(area_under_curve(xs, ys, hold=hold))
            result.wall.append(summary["wall_time_s"])
            result.curves.append((xs, ys))
            result.reward_curves.append(reward_curve(records))
            result.holds.append(hold)
            result.costs.append(run_costs(run_dir, batch_size_of(run_dir)))
            for t in THRESHOLDS:
                result.to_reach[t].append(queries_to_reach(xs, ys, t, hold=hold))
        results.append(result)
    return results


def compare_to_baseline(results: list[PresetResult], baseline: str) -> list[PairedComparison]:
    """Every other preset against ``baseline``, paired by seed on the seeds both ran."""
    base = next((r for r in results if r.preset == baseline), None)
    if base is None:
        raise UserError(f"--baseline {baseline!r} is not among the compared presets "
                        f"({', '.join(r.preset for r in results)})")
    for result in results:  # runs gathered from two comparisons could hold a seed twice: no silent pick
        if len(set(result.seeds)) < len(result.seeds):
            raise UserError(f"{result.preset} has two runs with the same seed; pairing by seed needs one each")
    base_index = {seed: k for k, seed in enumerate(base.seeds)}
    comparisons = []
    for result in results:
        if result is base:
            continue
        pairs = [(k, base_index[seed]) for k, seed in enumerate(result.seeds) if seed in base_index]
        if not pairs:
            raise UserError(f"{result.preset} and the baseline {baseline} share no seed to pair")
        diffs = {}
        for label, attr in (*FINAL_METRICS, ("AUC", "auc")):
            mine, theirs = getattr(result, attr), getattr(base, attr)
            values = [mine[k] - theirs[b] for k, b in pairs if mine[k] is not None and theirs[b] is not None]
            if values:
                diffs[label] = paired_bootstrap(values)
        savings = [query_saving(base.curves[b], result.curves[k], base.holds[b], result.holds[k]) for k, b in pairs]
        reward_savings = [query_saving(base.reward_curves[b], result.reward_curves[k], base.holds[b], result.holds[k])
                          for k, b in pairs if base.reward_curves[b] and result.reward_curves[k]]
        saving, never, trivial = _pooled(savings)
        reward_saving, reward_never, reward_trivial = _pooled(reward_savings)
        comparisons.append(PairedComparison(
            result.preset, baseline, [result.seeds[k] for k, _ in pairs],
            sorted(set(result.seeds) ^ set(base.seeds)), diffs, saving, never_reached=never, trivial=trivial,
            reward_saving=reward_saving, reward_never_reached=reward_never, reward_trivial=reward_trivial))
    return comparisons


def _pooled(savings: list[tuple[float, bool] | None]) -> tuple[Interval | None, int, int]:
    """The geometric mean saving over seeds, the seeds that never reached the value, those left out."""
    ratios = [ratio for ratio, _ in filter(None, savings)]
    return (geometric_mean_ratio(ratios) if ratios else None,
            sum(1 for s in savings if s is not None and not s[1]), sum(1 for s in savings if s is None))


def reward_curve(records: list[dict]) -> tuple[list[int], list[float]] | None:
    """(queries, mean ground-truth reward) of a run's evaluations; None when some evaluation lacks it."""
    values = [_finite(r.get("eval/reward")) for r in records]
    if any(v is None for v in values):
        return None
    return [r["queries"] for r in records], values


def batch_size_of(run_dir: Path) -> int:
    import yaml

    config_file = run_dir / "config.yaml"
    config = (yaml.safe_load(config_file.read_text()) if config_file.is_file() else None) or {}
    return int(config.get("batch_size", 32))




def seed_of(run_dir: Path) -> int:
    """The seed a run directory's config.yaml names (else the -sN its `sealign compare` name ends with)."""
    import yaml

    config_file = run_dir / "config.yaml"
    config = (yaml.safe_load(config_file.read_text()) if config_file.is_file() else None) or {}
    if isinstance(config.get("seed"), int):
        return config["seed"]
    match = re.search(r"-s(\d+)$", run_dir.name)
    if match is None:
        raise UserError(f"{run_dir}: no seed in config.yaml to pair it by")
    return int(match.group(1))


def _finite(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None








def _mean_std(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "—"
    text = f"{present[0]:.3f}" if len(present) == 1 else \
        f"{statistics.fmean(present):.3f} ± {statistics.stdev(present):.3f}"
    return text + ("" if len(present) == len(values) else f" ({len(present)}/{len(values)} seeds)")


def _reach(values: list[int | None]) -> str:
    reached = [v for v in values if v is not None]
    if not reached:
        return "never"
    median = statistics.median(reached)
    return f"{median:.0f}" + ("" if len(reached) == len(values) else f" ({len(reached)}/{len(values)} seeds)")


def write_report(results: list[PresetResult], out_dir: Path, command: str, log_x: bool,
                 comparisons: list[PairedComparison] | None = None) -> Path:
    # win prob and reward only where some run recorded them (older runs, tasks without a reward function)
    finals = [(label, attr) for label, attr in FINAL_METRICS
              if any(v is not None for r in results for v in getattr(r, attr))]
    header = ["preset", "seeds", *[label for label, _ in finals], "AUC",
              *[f"queries to {t:.0%}" for t in THRESHOLDS], "updates / 100 queries", "identical pairs asked",
              "wall s"]
    rows = [
        [r.preset, str(len(r.final)), *[_mean_std(getattr(r, attr)) for _, attr in finals], _mean_std(r.auc),
         *[_reach(r.to_reach[t]) for t in THRESHOLDS], *_cost_cells(r), f"{statistics.fmean(r.wall):.0f}"]
        for r in results
    ]
    comparisons = comparisons or []
    diff_labels = [label for label in (*[label for label, _ in FINAL_METRICS], "AUC")
                   if any(label in c.diffs for c in comparisons)]
    with open(out_dir / "comparison.csv", "w", newline="") as f:
        writer = csv.writer(f)
        extra_header = _csv_paired_header(diff_labels) if comparisons else []
        writer.writerow(header + extra_header)
        by_preset = {c.preset: c for c in comparisons}
        for result, row in zip(results, rows):
            paired = by_preset.get(result.preset)
            if paired:
                extra = _csv_paired_row(paired, diff_labels)
            else:  # the baseline itself (nothing to pair it with), or no --baseline
                extra = [comparisons[0].baseline, *[""] * (len(extra_header) - 1)] if comparisons else []
            writer.writerow(row + extra)
    plot_runs([d for r in results for d in r.run_dirs], out_dir / "winrate.png", log_x=log_x,
              title="win rate vs queries")
    lines = [
        "# Comparison", "", f"Command: `{command}`", "",
        "Win rate against the SFT policy (mean ± std over seeds); win prob = mean P(policy > SFT) over the "
        "evaluation prompts (from the ground-truth reward at the oracle's temperature where the task has one); "
        "reward = the policy's mean ground-truth reward (tasks with a reward function only): both keep moving "
        "when the win rate saturates near 1. AUC = mean win rate over the budget (a "
        "collect-then-train schedule holds each round's value until its next round); "
        "queries to X = median over the seeds that reached X, read on the straight line between the "
        "evaluations around the crossing.", "",
        *_md_table(header, rows), "",
    ]
    if comparisons:
        lines += _md_paired(comparisons, diff_labels)
    lines += ["![win rate vs queries](winrate.png)", ""]
    (out_dir / "comparison.md").write_text("\n".join(lines))
    return out_dir / "comparison.md"


def _cost_cells(result: PresetResult) -> list[str]:
    """Updates per 100 queries and the share of answered pairs of two identical texts, means over seeds."""
    if not result.costs:
        return ["—", "—"]
    updates = statistics.fmean(100 * c.updates_per_query for c in result.costs)
    identical = statistics.fmean(c.identical_asked for c in result.costs)
    return [f"{updates:.2f}", f"{identical:.1%}"]


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *["| " + " | ".join(r) + " |" for r in rows]]


def _md_paired(comparisons: list[PairedComparison], diff_labels: list[str]) -> list[str]:
    baseline = comparisons[0].baseline
    with_reward = any(c.reward_saving is not None for c in comparisons)
    header = ["preset", "paired seeds", *[f"Δ {label}" for label in diff_labels], "query saving",
              *(["query saving (reward)"] if with_reward else [])]
    rows = [[c.preset, str(len(c.seeds)), *[_signed(c.diffs[label]) if label in c.diffs else "—"
                                            for label in diff_labels], _saving(c),
             *([_saving(reward_view(c))] if with_reward else [])] for c in comparisons]
    unpaired = [f"{c.preset}: seeds {', '.join(map(str, c.unpaired))}" for c in comparisons if c.unpaired]
    return [
        f"## Against the baseline `{baseline}`", "",
        f"Paired by seed: seed s of a preset minus seed s of `{baseline}` (same SFT policy, prompt order and "
        "random draws where the recipes draw alike), averaged over the seeds both ran, with a 95% "
        f"percentile-bootstrap interval over those seeds ({RESAMPLES:,} resamples, fixed RNG seed; too narrow "
        "below ~10 seeds: read it as a description). `*`: the interval excludes 0 (1 for the saving), "
        f"given only from {MIN_SEEDS_TO_MARK} paired seeds on.", "",
        f"Query saving = geometric mean over seeds of (queries `{baseline}` needed to first reach its final "
        "win rate) / (queries the preset needed to reach that value), interval on the log scale: 2.00× = "
        "half the queries, 1.00× = as many; an online run's counts are read on the straight line between the "
        "two evaluations around the crossing (a finer evaluation grid gains nothing), a round-based run's at "
        "the first evaluation that reaches the value (its policy holds until the next round trains). "
        "The reward saving reads the mean ground-truth reward's curve the same way. `≤`: some seeds never "
        "reached the value within their budget and count at the bound (baseline queries / budget), so the "
        "estimate and both ends are upper bounds (the `*` then only marks an interval below 1).", "",
        *_md_table(header, rows), "",
        *([f"Left unpaired: {'; '.join(unpaired)}.", ""] if unpaired else []),
    ]


def reward_view(c: PairedComparison) -> PairedComparison:
    """``c`` with its reward-curve saving in the place of the win-rate one (for the tables)."""
    return dataclasses.replace(c, saving=c.reward_saving, never_reached=c.reward_never_reached,
                               trivial=c.reward_trivial)


def _signed(interval: Interval) -> str:
    if interval.n < 2:
        return f"{interval.estimate:+.3f} (1 seed)"
    star = " *" if interval.excludes(0.0) and interval.n >= MIN_SEEDS_TO_MARK else ""
    return f"{interval.estimate:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]{star}"


def saving_is_clear(comparison: PairedComparison) -> bool:
    """Whether the saving's interval excludes 1 (from MIN_SEEDS_TO_MARK seeds on): an upper-bounded one
    (a seed never reached the baseline's value) only when it lies below 1."""
    saving = comparison.saving
    if saving is None or saving.n < MIN_SEEDS_TO_MARK:
        return False
    return saving.high < 1 or (saving.low > 1 and not comparison.never_reached)


def _saving(c: PairedComparison) -> str:
    if c.saving is None:
        return "n/a (no seed's baseline improved on its start)"
    bound = "≤ " if c.never_reached else ""
    if c.saving.n < 2:
        text = f"{bound}{c.saving.estimate:.2f}× (1 seed)"
    else:
        text = f"{bound}{c.saving.estimate:.2f}× [{c.saving.low:.2f}, {c.saving.high:.2f}]"
        text += " *" if saving_is_clear(c) else ""
    notes = ([f"{c.never_reached}/{len(c.seeds)} never reached"] if c.never_reached else []) + (
        [f"{c.trivial} left out: baseline no better than its start"] if c.trivial else [])
    return text + (f" ({'; '.join(notes)})" if notes else "")


def _csv_paired_header(diff_labels: list[str]) -> list[str]:
    return ["baseline", "paired seeds", *[f"diff {label}{end}" for label in diff_labels
                                          for end in ("", " ci_low", " ci_high")],
            *[f"{name}{end}" for name in ("query saving", "reward query saving")
              for end in ("", " ci_low", " ci_high", " is upper bound", " never reached", " left out")]]


def _csv_paired_row(c: PairedComparison, diff_labels: list[str]) -> list[str]:
    cells = [c.baseline, str(len(c.seeds))]
    for label in diff_labels:
        interval = c.diffs.get(label)
        cells += [_num(interval.estimate), _num(interval.low), _num(interval.high)] if interval else ["", "", ""]
    for view in (c, reward_view(c)):
        s = view.saving
        cells += [_num(s.estimate), _num(s.low), _num(s.high)] if s else ["", "", ""]
        cells += [str(bool(view.never_reached)).lower(), str(view.never_reached), str(view.trivial)]
    return cells


def _num(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.6g}"
