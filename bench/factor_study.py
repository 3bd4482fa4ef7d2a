"""Where active exploration saves queries (issue #16, part 3 and 4): a factor study over seeds.

    .venv/bin/python bench/factor_study.py --out runs/study                     # every cell, 10 seeds
    .venv/bin/python bench/factor_study.py --cells base,hard --seeds 4 --jobs 2  # a subset
    .venv/bin/python bench/factor_study.py --out runs/study --report-only        # tables from finished runs
    # on a GPU machine (many runs share one GPU; --deadline-s stops in time and keeps what finished):
    python bench/factor_study.py --jobs 15 --deadline-s 500 --run-args "--device cuda"

A *cell* is one setting of the factors (task, oracle noise, candidates per prompt, ...); its *arms*
are the explorers compared in it, each against the passive arm (a random pair of the same M
candidates) of the same cell, paired by seed. Each (cell, arm, seed) is an ordinary `sealign run` in
its own process, written where `sealign compare` would write it (OUT/CELL/runs/ARM-sSEED), so each
cell's table can be remade, or extended with more seeds, by the `sealign compare --arm ...` command
that the cell's comparison.md names.

The jobs of all cells share one queue, seed-major (every cell gets seed 0 before any gets seed 1),
so a deadline leaves every cell with the same seeds; the longest jobs of a seed start first.
Finished runs are kept and reused; runs cut by the deadline are deleted.

Writes OUT/CELL/comparison.md|.csv|winrate.png per cell and OUT/study.md: each arm's query saving
against its cell's passive arm with its 95% bootstrap interval, and whether the interval clears
2x and 4x.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sealign.analysis import compare
from sealign.analysis.stats import Interval

# The study's common ground: the built-in policy, half the default budget (less saturated win rates),
# and an evaluation each time 128 more queries are spent (the same query counts for every arm, whatever
# it spends a step: a step is cut to land on the grid).
COMMON = ("--budget", "768", "--eval-every-queries", "128")
OFFLINE_PROMPTS = ("--num-train-prompts", "23040")  # enough distinct prompts for 30x the budget


@dataclass(frozen=True)
class Cell:
    what: str
    arms: tuple[str, ...]  # `sealign compare --arm` specs; the first is the baseline
    args: tuple[str, ...] = ()  # settings of every run of the cell
    seeds: int | None = None  # None: --seeds
    # arms of other cells shown in this cell's table, as (cell, arm label); the first is then the baseline
    borrowed: tuple[tuple[str, str], ...] = ()
    first_seed: int = 0  # the tuning cell uses seeds the comparisons never see
    tuned: tuple[str, ...] = ()  # families whose tuned setting (from the `tune` cell) joins the arms
    controls: tuple[str, ...] = ()  # more baselines each arm is also compared with (the fair passives)
    delay: int = 0  # seed k of this cell is queued with seed k + delay of the others (a lower priority)


# The passive arms keep the learning rate they ran with (3e-4): `online-dpo` on the built-in policy has
# since taken the tuned 6e-4 (its `builtin_settings`), which is the `passive-tuned` arm.
PASSIVE, SEA = "passive=online-dpo --lr 3e-4", "sea=sea:2"
# A small grid, run on seeds 100-101, picks each family's learning rate and batch (by mean final reward).
TUNE_LRS, TUNE_BATCHES = ("3e-4", "6e-4", "1.2e-3"), ("16", "32")
TUNED_FAMILIES = {"passive": "online-dpo", "sea-sync": "sea:3"}
TUNE_ARMS = tuple(f"{family}-lr{lr}-b{batch}={preset} --lr {lr} --batch-size {batch}"
                  for family, preset in TUNED_FAMILIES.items() for lr in TUNE_LRS for batch in TUNE_BATCHES)
FAIR_CONTROLS = ("passive-b23", "passive-tuned")
CELLS = {
    "tune": Cell("the lr x batch grid of each family, on seeds 100-101 (never compared)", TUNE_ARMS, seeds=2,
                 first_seed=100),
    "base": Cell("tldr, M=4 candidates, BT temperature 0.1 (the defaults)", (
        PASSIVE,  # a random pair of distinct texts (the product default)
        # the control of study 1: a random index pair, paying for pairs of identical texts
        "passive-any=online-dpo --lr 3e-4 --explorer passive-any --ask-identical-pairs",
        # as many queries per update as sea-sync (23 of 32 prompts asked after the burn-in)
        "passive-b23=online-dpo --lr 3e-4 --batch-size 23",
        SEA, "sea-sync=sea:3",
        # ERM sync's labels on top of a full batch of queries: as many updates per query as passive
        "sea-add=sea:3 --erm-mode add",
        # gap-seeking rules (ActiveUltraFeedback)
        "drts=sea:2 --explorer drts", "delta-ucb=sea:2 --explorer delta-ucb",
        # SEA's own condition: the heads on a preference-trained encoder (the built-in pairwise model)
        "sea-pref=sea:2 --explore-features pairwise",
        # references that see the true reward: what any pair choice could save here
        "headroom-max-gap=online-dpo --lr 3e-4 --explorer headroom-max-gap",
        "headroom-coin-flip=online-dpo --lr 3e-4 --explorer headroom-coin-flip"),
        tuned=("passive",), controls=FAIR_CONTROLS),
    "m20": Cell("20 candidates per prompt (oat's SEA setting)", (
        PASSIVE, SEA, "sea-pref=sea:2 --explore-features pairwise"), ("--num-candidates", "20"), seeds=5, delay=4),
    # Paper 003's shape (Asghari et al. 2026): the offline multiple that matches online learning, at
    # three budgets: does it grow with the budget?
    **{f"shape-{budget}": Cell(
        f"offline DPO at 1x, 3x, 10x the online budget of {budget} queries", (
            f"online=online-dpo --lr 3e-4 --budget {budget}",
            *(f"offline-{k}x=offline-dpo --budget {k * budget}" for k in multiples)),
        (*OFFLINE_PROMPTS, "--eval-every-queries", str(max(32, budget // 6))), seeds=seeds, delay=delay)
       for budget, multiples, seeds, delay in ((256, (1, 3, 10), 3, 6), (768, (1, 3, 10), 2, 6), (2304, (1, 3), 2, 7))},
}
# rough costs, for the order of the queue
COST = {"offline-10x": 10, "offline-3x": 3, "m20": 3, "shape-2304": 3, "shape-256": 0.34}


def tuned_arm(out: Path, family: str) -> str | None:
    """``FAMILY-tuned=PRESET --lr LR --batch-size B``: the grid point of best mean final reward over the
    tuning seeds (every point must have finished them all); None until then."""
    cell = CELLS["tune"]
    arms = [compare.parse_arm(spec) for spec in cell.arms if spec.startswith(f"{family}-lr")]
    best, best_reward = None, None
    for arm in arms:
        runs = [out / "tune" / "runs" / f"{arm.run_prefix}-s{s}" for s in range(cell.first_seed,
                                                                                cell.first_seed + cell.seeds)]
        if not all((r / "summary.json").exists() for r in runs):
            return None
        [result] = compare.summarise([(arm.label, r) for r in runs])
        reward = sum(result.reward) / len(result.reward)
        if best_reward is None or reward > best_reward:
            best, best_reward = arm, reward
    return f"{family}-tuned={best.preset} {' '.join(best.args)}"


def cell_arms(name: str, out: Path) -> list[str]:
    """The cell's arm specs, with its tuned families where the tuning has finished."""
    cell = CELLS[name]
    return [*cell.arms, *filter(None, (tuned_arm(out, family) for family in cell.tuned))]


@dataclass
class Job:
    cell: str
    arm: compare.Arm
    seed: int
    run_dir: Path
    cost: float
    rank: int = 0  # the seed's place in its cell (seed-major order across cells)


def plan(cells: list[str], seeds: int, out: Path) -> list[Job]:
    jobs = []
    for name in cells:
        cell = CELLS[name]
        # the tuning's seeds are fixed; any other cell runs --seeds, or fewer where it sets its own count
        count = cell.seeds if cell.first_seed else min(cell.seeds or seeds, seeds)
        for k in range(count):
            seed = cell.first_seed + k
            for spec in cell_arms(name, out):
                arm = compare.parse_arm(spec)
                cost = COST.get(arm.label, 1) * COST.get(name, 1)
                rank = k - count if cell.first_seed else k + cell.delay  # the tuning runs first
                jobs.append(Job(name, arm, seed, out / name / "runs" / f"{arm.run_prefix}-s{seed}", cost, rank))
    # seed-major (the tuning seeds count as the first); within a seed the longest first, so the last jobs
    # to finish are short ones
    return sorted(jobs, key=lambda j: (j.rank, -j.cost))


def run_jobs(jobs: list[Job], jobs_at_once: int, run_args: list[str], threads: int, deadline: float | None) -> None:
    pending = [j for j in jobs if not (j.run_dir / "summary.json").exists()]
    print(f"{len(jobs) - len(pending)} runs finished earlier, {len(pending)} to run, {jobs_at_once} at a time",
          flush=True)
    running: list[tuple[subprocess.Popen, Job, object]] = []
    failed = 0
    while pending or running:
        out_of_time = deadline is not None and time.monotonic() > deadline
        while pending and len(running) < jobs_at_once and not out_of_time:
            job = pending.pop(0)
            if job.run_dir.exists():
                shutil.rmtree(job.run_dir)  # cut short last time
            logs = job.run_dir.parent.parent / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            cmd = [*compare.run_command(job.arm, job.seed, job.run_dir.parent, job.run_dir.name),
                   "--threads", str(threads), *COMMON, *CELLS[job.cell].args, *run_args, *job.arm.args]
            log = open(logs / f"{job.run_dir.name}.log", "w")
            running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), job, log))
        if out_of_time:
            pending.clear()
            for proc, job, log in running:
                proc.kill()
                proc.wait()
                log.close()
                shutil.rmtree(job.run_dir, ignore_errors=True)
                print(f"cut   {job.cell}/{job.run_dir.name} (deadline)", flush=True)
            break
        time.sleep(0.5)
        for item in list(running):
            proc, job, log = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log.close()
            status = "done " if proc.returncode == 0 else f"FAILED ({proc.returncode}; see its log)"
            failed += proc.returncode != 0
            print(f"{status} {job.cell}/{job.run_dir.name}", flush=True)
    if failed:
        print(f"{failed} runs failed", flush=True)


def report(cells: list[str], out: Path) -> Path:
    rows = []
    for name in cells:
        cell = CELLS[name]
        specs = cell_arms(name, out)
        arms = [(name, compare.parse_arm(spec)) for spec in specs]
        arms = [*((other, _arm(other, label)) for other, label in cell.borrowed), *arms]
        runs = [(_label(name, other, arm), d) for other, arm in arms
                for d in sorted((out / other / "runs").glob(f"{arm.run_prefix}-s*"))
                if (d / "summary.json").exists() and d.name.rsplit("-s", 1)[0] == arm.run_prefix]
        if not runs:
            continue
        results = compare.summarise(runs)
        labels = {r.preset for r in results}
        baseline = _label(name, *arms[0])
        comparisons = compare.compare_to_baseline(results, baseline) if len(results) > 1 else []
        seeds = max(len(r.seeds) for r in results)
        if cell.borrowed or cell.tuned or cell.first_seed:  # only this script makes these tables
            cells_used = ",".join(dict.fromkeys([*(c for c, _ in cell.borrowed), name]))
            command = f"python bench/factor_study.py --out {out} --cells {cells_used} --seeds {seeds}"
        else:
            command = ("sealign compare " + " ".join(f"--arm {shlex.quote(spec)}" for spec in specs)
                       + f" --seeds {seeds} --baseline {baseline} --out {out / name} -- "
                       + " ".join((*COMMON, *cell.args)))
        compare.write_report(results, out / name, command, False, comparisons)
        by_label = {r.preset: r for r in results}
        if cell.first_seed:  # the tuning grid: its own table below, no savings
            continue
        for c in comparisons:
            if "/" in c.preset:  # a borrowed arm: its own cell's row says it
                continue
            rows.append((name, c, by_label[c.preset]))
        for control in cell.controls:  # the same arms against the fair passives
            if control not in labels:
                continue
            for c in compare.compare_to_baseline(results, control):
                if c.preset != baseline and not c.preset.startswith("passive") and "/" not in c.preset:
                    rows.append((name, c, by_label[c.preset]))
    lines = [
        "# Factor study: query savings against passive exploration and its fair controls", "",
        "Each row: an arm against a baseline of its cell, paired by seed. Saving = the baseline's queries to its "
        "final value / the arm's queries to that value, on the win-rate curve and on the mean ground-truth "
        "reward's (geometric mean, 95% bootstrap interval; `≤`: some seeds never got there). Round-based runs "
        "hold each value until their next round. ≥2x: the interval's low end clears it. Updates / 100 queries "
        "and the share of answered pairs of two identical texts are the arm's own. Per-cell tables: "
        "CELL/comparison.md.", "",
        "| cell | arm | baseline | seeds | updates / 100 q | identical asked | Δ final reward | Δ AUC | "
        "query saving | query saving (reward) | ≥2x (reward) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, c, result in rows:
        updates, identical = compare.cost_cells(result)
        lines.append(f"| {name} | {c.preset} | {c.baseline} | {len(c.seeds)} | {updates} | {identical} | "
                     f"{_diff(c, 'final reward')} | {_diff(c, 'AUC')} | {compare.saving_cell(c)} | "
                     f"{compare.saving_cell(compare.reward_view(c)) if c.reward_saving else '—'} | "
                     f"{_clears(compare.reward_view(c), 2)} |")
    lines += ["", "Cells:", ""] + [f"- `{n}`: {CELLS[n].what} ({' '.join(CELLS[n].args) or 'defaults'})"
                                   for n in cells]
    lines += tuning_table(out)
    path = out / "study.md"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def tuning_table(out: Path) -> list[str]:
    """Every grid point of the `tune` cell that has runs: mean final reward and win rate over its seeds,
    and the updates it made per 100 queries; then the setting each family takes."""
    rows = []
    for spec in CELLS["tune"].arms:
        arm = compare.parse_arm(spec)
        runs = [(arm.label, d) for d in sorted((out / "tune" / "runs").glob(f"{arm.run_prefix}-s*"))
                if (d / "summary.json").exists()]
        if not runs:
            continue
        [r] = compare.summarise(runs)
        updates = statistics.fmean(100 * c.updates_per_query for c in r.costs)
        rows.append(f"| {arm.label} | {len(r.seeds)} | {statistics.fmean(r.reward):.3f} | "
                    f"{statistics.fmean(r.final):.3f} | {updates:.2f} |")
    if not rows:
        return []
    tuned = [t for t in (tuned_arm(out, f) for f in TUNED_FAMILIES) if t]
    return ["", "## Tuning (seeds 100-101, never compared)", "",
            "| grid point | seeds | mean final reward | mean final win rate | updates / 100 q |",
            "|---|---|---|---|---|", *rows, "",
            "Each family's best mean final reward:", "", *[f"- `{t}`" for t in tuned]]


def _arm(cell: str, label: str) -> compare.Arm:
    return next(a for a in map(compare.parse_arm, CELLS[cell].arms) if a.label == label)


def _label(cell: str, source: str, arm: compare.Arm) -> str:
    """An arm's label in ``cell``'s table: borrowed arms carry their own cell's name."""
    return arm.label if source == cell else f"{source}/{arm.label}"


def _diff(c: compare.PairedComparison, label: str) -> str:
    interval: Interval | None = c.diffs.get(label)
    return compare.signed_cell(interval) if interval else "—"


def _clears(c: compare.PairedComparison, factor: float) -> str:
    s = c.saving
    if s is None or s.n < compare.MIN_SEEDS_TO_MARK or c.never_reached:
        return "no"
    return "yes" if s.low >= factor else "no"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/study"))
    parser.add_argument("--cells", default=",".join(CELLS), help=f"comma-separated, of: {', '.join(CELLS)}")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--arms", default="", help="run only these CELL/ARM, comma-separated (the tables show all)")
    parser.add_argument("--jobs", type=int, default=max(1, os.cpu_count() or 1))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--run-args", default="", help="settings added to every run, e.g. '--device cuda'")
    parser.add_argument("--deadline-s", type=float, help="stop after this many seconds, keeping finished runs")
    parser.add_argument("--report-only", action="store_true", help="write the tables from the finished runs")
    ns = parser.parse_args(argv)
    cells = [c.strip() for c in ns.cells.split(",") if c.strip()]
    unknown = sorted(set(cells) - set(CELLS))
    if unknown:
        parser.error(f"unknown cells {unknown}; choose from {', '.join(CELLS)}")
    if not ns.report_only:
        deadline = time.monotonic() + ns.deadline_s if ns.deadline_s else None
        jobs = plan(cells, ns.seeds, ns.out)
        if ns.arms:
            chosen = {a.strip() for a in ns.arms.split(",") if a.strip()}
            known = {f"{j.cell}/{j.arm.label}" for j in jobs}
            if chosen - known:
                parser.error(f"--arms {sorted(chosen - known)} not among the cells' arms ({', '.join(sorted(known))})")
            jobs = [j for j in jobs if f"{j.cell}/{j.arm.label}" in chosen]
        run_jobs(jobs, ns.jobs, shlex.split(ns.run_args), ns.threads, deadline)
        if not ns.arms and any(CELLS[c].tuned for c in cells):  # the tuned arms, once the tuning finished
            more = [j for j in plan(cells, ns.seeds, ns.out) if not (j.run_dir / "summary.json").exists()]
            run_jobs(more, ns.jobs, shlex.split(ns.run_args), ns.threads, deadline)
    print(report(cells, ns.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
