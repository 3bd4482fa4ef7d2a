"""RUN_DIR/samples.jsonl: a few of the evaluated policy's responses at every evaluation.

One record per evaluation: step, queries, and for the first held-out prompts the policy's response
beside the SFT policy's (the evaluation's fixed baseline). Metrics say how much a policy changed;
these say how. A resumed run appends again the evaluations it redoes; readers take the first
and the last record.
"""

from __future__ import annotations

import json
from pathlib import Path

SAMPLES_FILE = "samples.jsonl"
SAMPLES_PER_EVAL = 4


def append_samples(path: Path, step: int, queries: int, samples: list[dict]) -> None:
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps({"step": step, "queries": queries, "samples": samples}, ensure_ascii=False) + "\n")


def read_samples(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / SAMPLES_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def keep_samples_until(run_dir: Path, step: int) -> None:
    """Drops the records of evaluations after ``step`` (a resumed run redoes them)."""
    path = Path(run_dir) / SAMPLES_FILE
    if path.is_file():
        kept = [r for r in read_samples(run_dir) if r["step"] <= step]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
