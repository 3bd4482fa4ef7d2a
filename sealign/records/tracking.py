"""Metrics to `metrics.jsonl` (always) and a live progress bar (when a terminal is attached)."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class MetricsWriter:
    """One JSON object per line; every record carries the step and the oracle queries spent."""

    def __init__(self, path: Path, append: bool = False, lines: int = 0, mirrors=None):
        self.path = path
        self.mirrors = mirrors  # --report-to trackers (sealign/trackers/) get every record too
        self.file = open(path, "a" if append else "w", buffering=1)
        self.start = time.perf_counter()
        self.lines = lines if append else 0

    def write(self, record: dict) -> None:
        record = {"time_s": round(time.perf_counter() - self.start, 3), **record}
        self.file.write(json.dumps(record) + "\n")
        self.lines += 1
        if self.mirrors is not None:
            self.mirrors.log_metrics(record)

    def close(self) -> None:
        self.file.close()


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class RunProgress:
    """A rich progress bar over oracle queries, showing the loss and the last win rate."""

    def __init__(self, total_queries: int, description: str, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("queries  loss {task.fields[loss]}  win {task.fields[win]}"),
            TimeElapsedColumn(), console=self.console, transient=False,
            disable=not self.console.is_terminal,
        )
        self.task = self.progress.add_task(description, total=total_queries, loss="-", win="-")

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, queries: int, loss: float | None = None, win_rate: float | None = None) -> None:
        fields = {}
        if loss is not None:
            fields["loss"] = f"{loss:.3f}"
        if win_rate is not None:
            fields["win"] = f"{win_rate:.1%}"
        self.progress.update(self.task, completed=queries, **fields)


class PhaseTimer:
    """Wall time of the loop's phases, as ``time/<phase>`` metrics."""

    def __init__(self):
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        yield
        self.times[f"time/{phase}"] = round(time.perf_counter() - start, 4)
