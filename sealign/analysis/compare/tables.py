"""The comparison's tables: comparison.md (the summary table, and the paired one against the baseline)
and comparison.csv with the same numbers, beside the overlaid curves (winrate.png).
"""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

from sealign.analysis.compare.analysis import (
    FINAL_METRICS,
    MIN_SEEDS_TO_MARK,
    THRESHOLDS,
    PairedComparison,
    PresetResult,
    reward_view,
    saving_is_clear,
)
from sealign.analysis.plot import plot_runs
from sealign.analysis.stats import RESAMPLES, Interval


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
         *[_reach(r.to_reach[t]) for t in THRESHOLDS], *cost_cells(r), f"{statistics.fmean(r.wall):.0f}"]
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


def cost_cells(result: PresetResult) -> list[str]:
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
    rows = [[c.preset, str(len(c.seeds)), *[signed_cell(c.diffs[label]) if label in c.diffs else "—"
                                             for label in diff_labels], saving_cell(c),
             *([saving_cell(reward_view(c))] if with_reward else [])] for c in comparisons]
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


def signed_cell(interval: Interval) -> str:
    """A paired difference as a table cell: the estimate, its interval and `*` where it clears 0."""
    if interval.n < 2:
        return f"{interval.estimate:+.3f} (1 seed)"
    star = " *" if interval.excludes(0.0) and interval.n >= MIN_SEEDS_TO_MARK else ""
    return f"{interval.estimate:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]{star}"


def saving_cell(c: PairedComparison) -> str:
    """A query saving as a table cell: the estimate, its interval, `*`, `≤` and the seeds left out."""
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
