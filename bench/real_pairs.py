"""Paired comparisons of the ``real`` preset's arms from recorded curves, not from run folders.

The studies of bench/results/real_model.md ran over several sessions, and a run folder does not outlive
its session (runs/ is not committed). Each finished run's evaluation curve is recorded in
bench/results/real_model_curves.json (a few numbers per run), and the paired tables are computed from
that file, so an arm run today pairs with the same seeds of an arm run before:

    python bench/real_pairs.py record runs/real6/runs --study sft      # add/replace these runs' curves
    python bench/real_pairs.py compare --study decay --baseline real-v4 --arms real-v2,real-v5
    python bench/real_pairs.py compare --study sft --baseline decay/real-v1 --arms real-v1   # across settings

Per seed that both arms ran: the difference in the final win rate against the starting model and in the
area under the win-rate curve (``sealign.analysis.curves.area_under_curve``: the mean over the budget),
then the mean difference with its 95% percentile-bootstrap interval over the seeds
(``sealign.analysis.stats.paired_bootstrap``, as ``sealign compare`` reports it). A run recorded by its
final win rate alone (``{"queries": [512], "win_rate": [w]}``: a session that kept no curve) pairs in the
final win rate and is left out of the AUC, whose cell then names the seeds it holds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sealign.analysis.curves import area_under_curve
from sealign.analysis.stats import paired_bootstrap

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.real_study import arms, evaluations, mean_std  # noqa: E402

CURVES = Path(__file__).resolve().parent / "results" / "real_model_curves.json"
KEYS = {"win_rate": "eval/win_rate", "reward": "eval/reward"}


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"studies": {}}


def run_curve(run_dir: Path) -> dict:
    """{"queries": [...], "win_rate": [...], "reward": [...]} from a run's evaluations."""
    evals = evaluations(run_dir)
    points = sorted(evals)
    curve = {"queries": points}
    for name, key in KEYS.items():
        curve[name] = [round(evals[q][key], 4) for q in points]
    return curve


def record(runs_dir: Path, study: str, path: Path = CURVES) -> list[str]:
    """Add every finished run under ``runs_dir`` to ``study`` (a run already there is replaced)."""
    data = load(path)
    found = arms(runs_dir)
    if not found:
        raise SystemExit(f"no finished run (a folder NAME-sSEED with summary.json) under {runs_dir}")
    arms_data = data["studies"].setdefault(study, {"arms": {}})["arms"]
    added = []
    for arm, seeds in found.items():
        for seed, run_dir in seeds.items():
            arms_data.setdefault(arm, {})[str(seed)] = run_curve(run_dir)
            added.append(f"{arm}-s{seed}")
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return added


def final(curve: dict) -> float:
    return curve["win_rate"][-1]


def auc(curve: dict) -> float | None:
    """None for a run recorded by its final win rate alone (no curve to integrate)."""
    if len(curve["queries"]) < 2:
        return None
    return area_under_curve(curve["queries"], curve["win_rate"])


def aucs(runs: dict) -> list[float]:
    return [value for value in map(auc, runs.values()) if value is not None]


def interval_cell(diffs: list[float]) -> str:
    found = paired_bootstrap(diffs)
    if found.n < 2:
        return f"{found.estimate:+.3f}"
    return f"{found.estimate:+.3f} [{found.low:+.3f}, {found.high:+.3f}]"


def arm_runs(data: dict, study: str, arm: str) -> dict:
    """The runs of ``arm`` in ``study``, or of ``OTHER/arm`` in the study OTHER (to pair across settings)."""
    if "/" in arm:
        study, arm = arm.split("/", 1)
    if study not in data["studies"]:
        raise SystemExit(f"no study {study!r} in the curves file (studies: {', '.join(data['studies'])})")
    arms_data = data["studies"][study]["arms"]
    if arm not in arms_data:
        raise SystemExit(f"study {study!r} has no arm {arm} (arms: {', '.join(sorted(arms_data))})")
    return arms_data[arm]


def compare(data: dict, study: str, baseline: str, others: list[str]) -> list[str]:
    """A markdown table: each arm's final win rate and AUC (mean ± std over its seeds), and its paired
    differences from ``baseline`` over the seeds both ran. An arm named ``STUDY/ARM`` is read from that
    study (the same seeds under other settings)."""
    base = arm_runs(data, study, baseline)
    lines = ["| arm | seeds | final win rate | AUC | paired seeds | Δ final win rate | Δ AUC |",
             "|---|---|---|---|---|---|---|",
             f"| {baseline} | {len(base)} | {mean_std([final(c) for c in base.values()], 3)} | "
             f"{mean_std(aucs(base), 3)} | | | |"]
    for arm in others:
        runs = arm_runs(data, study, arm)
        paired = sorted(set(runs) & set(base), key=int)
        with_curves = [s for s in paired if auc(runs[s]) is not None and auc(base[s]) is not None]
        final_cell = interval_cell([final(runs[s]) - final(base[s]) for s in paired]) if paired else "—"
        auc_cell = interval_cell([auc(runs[s]) - auc(base[s]) for s in with_curves]) if with_curves else "—"
        if with_curves and with_curves != paired:
            auc_cell += f" (seeds {', '.join(with_curves)})"
        lines.append(f"| {arm} | {len(runs)} | {mean_std([final(c) for c in runs.values()], 3)} | "
                     f"{mean_std(aucs(runs), 3)} | {', '.join(paired) or 'none'} | {final_cell} | {auc_cell} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=Path, default=CURVES, help="the recorded curves (JSON)")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="record the finished runs of a folder")
    rec.add_argument("runs_dir", type=Path)
    rec.add_argument("--study", required=True, help="the study (the preset's settings) these runs belong to")
    cmp = sub.add_parser("compare", help="paired differences from a baseline arm")
    cmp.add_argument("--study", required=True)
    cmp.add_argument("--baseline", required=True, help="an arm, e.g. real-v4")
    cmp.add_argument("--arms", required=True, help="comma-separated arms, e.g. real-v2,real-v5")
    args = parser.parse_args(argv)
    if args.command == "record":
        added = record(args.runs_dir, args.study, args.curves)
        print(f"recorded {len(added)} runs in {args.curves} ({args.study}): {', '.join(added)}")
    else:
        print("\n".join(compare(load(args.curves), args.study, args.baseline, args.arms.split(","))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
