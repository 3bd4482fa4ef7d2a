"""Does a refactor leave behaviour unchanged? Short runs of every recipe on the built-in task, digested.

Each preset runs ``--budget 48 --batch-size 8`` on the built-in policy (seed 0, one thread). Its feedback
log (every row in log order, without the random row and run ids and the clock) and its metrics.jsonl
(every value but wall-clock times, memory and throughput) are hashed. Save the digests before a change,
check them after: a refactor that is code motion only gives the same digests, byte for byte.

    python bench/same_behaviour.py --save bench/results/same_behaviour.json   # before
    python bench/same_behaviour.py --check bench/results/same_behaviour.json  # after

Runs go to a scratch folder; ``--keep DIR`` keeps them for a diff when a digest moves.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

PRESETS = ["online-dpo", "sea", "sea:7", "xpo", "rlhflow", "offline-dpo", "selm", "apl", "ees", "periodic"]
"""Every recipe (``preset:variant`` picks a variant): SEA's default has ERM sync, its variant 7 a reward model
that learns while the policy does not."""
RUN_ARGS = ["--budget", "48", "--batch-size", "8", "--num-eval-prompts", "16", "--eval-every-queries", "16",
            "--seed", "0", "--threads", "1"]
MOVING_KEYS = ("time", "peak_rss", "throughput", "tokens_per_s", "queries_per_s")
"""Metric names (prefixes or parts) that measure the machine, not the run: left out of the digest."""


VARYING_COLUMNS = ("seq", "id", "run_id", "timestamp")
"""Feedback-log columns that differ between two runs of the same code (random ids, the clock)."""


def steady(record: dict) -> dict:
    return {k: v for k, v in record.items() if not any(part in k for part in MOVING_KEYS)}


def digest_run(run_dir: Path) -> dict[str, str]:
    metrics = [steady(json.loads(line)) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    db = sqlite3.connect(run_dir / "feedback.sqlite")
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(comparisons)") if row[1] not in VARYING_COLUMNS]
        rows = db.execute(f"SELECT {', '.join(columns)} FROM comparisons ORDER BY seq").fetchall()
    finally:
        db.close()
    return {"metrics": hashlib.sha256(json.dumps(metrics, sort_keys=True).encode()).hexdigest()[:16],
            "feedback": hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16],
            "rows": str(len(rows))}


def run_presets(presets: list[str], out: Path) -> dict[str, dict[str, str]]:
    digests = {}
    for preset in presets:
        name, _, variant = preset.partition(":")
        run_name = preset.replace(":", "-v")
        variant_args = ["--variant", variant] if variant else []
        cmd = [sys.executable, "-m", "sealign.cli", "run", "--preset", name, *variant_args, *RUN_ARGS,
               "--out-dir", str(out), "--run-name", run_name]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise SystemExit(f"{preset} failed: " + " | ".join(tail))
        digests[preset] = digest_run(out / run_name)
        print(f"{preset:12s} {digests[preset]}", flush=True)
    return digests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--save", type=Path, help="write the digests here")
    mode.add_argument("--check", type=Path, help="compare with the digests saved here")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder")
    args = parser.parse_args(argv)
    presets = args.presets.split(",")
    with tempfile.TemporaryDirectory() as scratch:
        out = args.keep or Path(scratch)
        digests = run_presets(presets, out)
    if args.save:
        args.save.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        return 0
    saved = json.loads(args.check.read_text())
    moved = [p for p in presets if saved.get(p) != digests[p]]
    for preset in moved:
        print(f"MOVED {preset}: saved {saved.get(preset)} now {digests[preset]}")
    print("same behaviour" if not moved else f"{len(moved)} of {len(presets)} presets behave differently")
    return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
