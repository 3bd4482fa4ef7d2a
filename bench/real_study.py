"""Tables for bench/results/real_model.md from the runs of the ``real`` preset's arms.

    sealign compare --presets real:1,real:2 --seeds 5 --jobs 2 --baseline real:1 --out runs/real3 \\
        -- --mixed-precision bf16 --stop-on-collapse
    python bench/real_study.py runs/real3/runs                     # every arm found there
    python bench/real_study.py runs/real3/runs --samples real-v1-s0  # before/after answers of one run

Each run's evaluations (``eval/*`` lines of metrics.jsonl; a resumed run's repeated final evaluation is
read once) become: the mean ± std over seeds at each evaluation of the win rate against the starting
model, the graded reward, the strict share of constraints met, words per answer, the share of answers
that end (EOS) and the KL estimate (a run stopped by --stop-on-collapse counts where it has evaluations,
and the column says how many seeds it holds); the per-kind share met at the start and at each run's last
evaluation; and each seed's win rates.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROWS = [("eval/win_rate", "win rate vs start", 3), ("eval/reward", "graded reward", 3),
        ("eval/constraints_met", "constraints met (strict)", 3), ("eval/content", "content term", 2),
        ("eval/words_per_answer", "words per answer", 1), ("eval/looping_share", "answers that loop", 2),
        ("eval/eos_share", "answers that end (EOS)", 2),
        ("eval/kl", "KL to the start (nats)", 1)]


def evaluations(run_dir: Path) -> dict[int, dict]:
    """{queries: the evaluation's record}; the first record at each query count wins."""
    seen: dict[int, dict] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "eval/win_rate" in record:
            seen.setdefault(record["queries"], record)
    return seen


def arms(runs_dir: Path) -> dict[str, dict[int, Path]]:
    """{arm (e.g. real-v1): {seed: finished run dir}}."""
    found: dict[str, dict[int, Path]] = defaultdict(dict)
    for run_dir in sorted(runs_dir.iterdir()):
        match = re.fullmatch(r"(.+)-s(\d+)", run_dir.name)
        if match and (run_dir / "summary.json").exists():
            found[match.group(1)][int(match.group(2))] = run_dir
    return dict(found)


def mean_std(values: list[float], digits: int) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def arm_table(name: str, runs: dict[int, Path]) -> list[str]:
    evals = {seed: evaluations(run_dir) for seed, run_dir in runs.items()}
    points = sorted(set.union(*(set(e) for e in evals.values())))
    counts = {q: sum(q in e for e in evals.values()) for q in points}  # a run stopped early lacks the later ones
    heads = [f"{q}" if counts[q] == len(evals) else f"{q} ({counts[q]} seeds)" for q in points]
    lines = [f"### {name}: {len(runs)} seeds ({', '.join(map(str, sorted(runs)))}), mean ± std", "",
             "| queries | " + " | ".join(heads) + " |", "|---|" + "---|" * len(points)]
    for key, label, digits in ROWS:
        cells = [mean_std([evals[s][q][key] for s in evals if q in evals[s] and key in evals[s][q]], digits)
                 for q in points]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| seed | " + " | ".join(f"win rate at {q}" for q in points[1:]) + " |")
    lines.append("|---|" + "---|" * (len(points) - 1))
    for seed in sorted(evals):
        cells = [f"{evals[seed][q]['eval/win_rate']:.3f}" if q in evals[seed] else "stopped" for q in points[1:]]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    kinds = sorted({k.split("/")[-1] for e in evals.values() for r in e.values() for k in r
                    if k.startswith("eval/constraints/")})
    if kinds:
        first = points[0]
        finals = {seed: e[max(e)] for seed, e in evals.items()}  # each run's last evaluation
        lines += ["", "| constraint kind | met at 0 | met at each run's last evaluation |", "|---|---|---|"]
        for kind in kinds:
            key = f"eval/constraints/{kind}"
            lines.append(f"| {kind} | {mean_std([e[first][key] for e in evals.values() if key in e[first]], 2)} | "
                         f"{mean_std([r[key] for r in finals.values() if key in r], 2)} |")
    return lines + [""]


def samples(run_dir: Path, count: int) -> list[str]:
    records = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    last = records[-1]
    lines = [f"Answers of {run_dir.name} at 0 and {last['queries']} queries (the first {count} held-out prompts):", ""]
    for sample in last["samples"][:count]:
        lines += [f"- **prompt**: {sample['prompt']}",
                  f"  - start: {json.dumps(sample['sft_response'])}",
                  f"  - after {last['queries']}: {json.dumps(sample['response'])}"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("--samples", help="a run's name: print its answers at the start and the end")
    parser.add_argument("--count", type=int, default=4)
    args = parser.parse_args(argv)
    if args.samples:
        print("\n".join(samples(args.runs_dir / args.samples, args.count)))
        return 0
    for name, runs in arms(args.runs_dir).items():
        print("\n".join(arm_table(name, runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
