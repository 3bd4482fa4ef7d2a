"""Reading the compared runs and pairing them by seed: each arm's per-seed finals, areas and curves
(``summarise``), and every arm against the baseline (``compare_to_baseline``: paired differences and the
query saving, with bootstrap intervals over the seeds).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from sealign.analysis.curves import (
    RunCosts,
    area_under_curve,
    holds_between_evaluations,
    queries_to_reach,
    query_saving,
    run_costs,
)
from sealign.analysis.plot import eval_curve, eval_records
from sealign.analysis.run_files import run_settings
from sealign.analysis.stats import Interval, geometric_mean_ratio, paired_bootstrap
from sealign.errors import UserError

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
            hold = holds_between_evaluations(run_dir)  # the schedule's policy_changes: per round
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


def reward_view(c: PairedComparison) -> PairedComparison:
    """``c`` with its reward-curve saving in the place of the win-rate one (for the tables)."""
    return dataclasses.replace(c, saving=c.reward_saving, never_reached=c.reward_never_reached,
                               trivial=c.reward_trivial)


def saving_is_clear(comparison: PairedComparison) -> bool:
    """Whether the saving's interval excludes 1 (from MIN_SEEDS_TO_MARK seeds on): an upper-bounded one
    (a seed never reached the baseline's value) only when it lies below 1."""
    saving = comparison.saving
    if saving is None or saving.n < MIN_SEEDS_TO_MARK:
        return False
    return saving.high < 1 or (saving.low > 1 and not comparison.never_reached)


def reward_curve(records: list[dict]) -> tuple[list[int], list[float]] | None:
    """(queries, mean ground-truth reward) of a run's evaluations; None when some evaluation lacks it."""
    values = [_finite(r.get("eval/reward")) for r in records]
    if any(v is None for v in values):
        return None
    return [r["queries"] for r in records], values


def batch_size_of(run_dir: Path) -> int:
    """The run's batch size (config.yaml; 32 where it has none): what counts as a small update."""
    return int(run_settings(run_dir).get("batch_size", 32))


def seed_of(run_dir: Path) -> int:
    """The seed a run directory's config.yaml names (else the -sN its `sealign compare` name ends with)."""
    seed = run_settings(run_dir).get("seed")
    if isinstance(seed, int):
        return seed
    match = re.search(r"-s(\d+)$", run_dir.name)
    if match is None:
        raise UserError(f"{run_dir}: no seed in config.yaml to pair it by")
    return int(match.group(1))


def _finite(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
