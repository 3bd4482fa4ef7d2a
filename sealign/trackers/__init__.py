"""`--report-to tensorboard,wandb`: mirrors of metrics.jsonl in the experiment trackers people already use.

metrics.jsonl stays the record of a run; a tracker receives the same records under the same names
(x axis: the loop step; `queries` is one of the scalars), the resolved config at the start, and the
summary and the win-rate plot at the end. A new tracker is one module with ``open_tracker`` and one
line in ``REGISTRY``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

from sealign.errors import ConfigError

REGISTRY = {
    "tensorboard": "sealign.trackers.tensorboard",
    "wandb": "sealign.trackers.wandb",
}


class Tracker(Protocol):
    def log_metrics(self, record: dict) -> None: ...

    def log_summary(self, summary: dict, plot: Path) -> None: ...

    def close(self) -> None: ...


def tracker_names(report_to: str) -> list[str]:
    """'tensorboard,wandb' -> ['tensorboard', 'wandb']; unknown names are refused ('' and 'none': none)."""
    names = [n.strip() for n in report_to.split(",") if n.strip() and n.strip() != "none"]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ConfigError(f"report_to: unknown tracker(s) {', '.join(unknown)}; choose from {', '.join(REGISTRY)}")
    return list(dict.fromkeys(names))


def check_installed(report_to: str) -> None:
    """Refuse a tracker whose package is missing, before any model load, with the pip line that fixes it."""
    for name in tracker_names(report_to):
        importlib.import_module(REGISTRY[name]).require()


def open_trackers(report_to: str, run_dir: Path, run_name: str, config: dict, log=print) -> Trackers:
    return Trackers([importlib.import_module(REGISTRY[name]).open_tracker(run_dir, run_name, config, log)
                     for name in tracker_names(report_to)])


class Trackers:
    """All the run's trackers behind one object (none at all is the common case)."""

    def __init__(self, trackers: list[Tracker]):
        self.trackers = trackers

    def log_metrics(self, record: dict) -> None:
        for tracker in self.trackers:
            tracker.log_metrics(record)

    def log_summary(self, summary: dict, plot: Path) -> None:
        for tracker in self.trackers:
            tracker.log_summary(summary, plot)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()


def scalars(record: dict) -> dict[str, float]:
    """The record's numbers, under their metrics.jsonl names, without the step (the trackers' x axis)."""
    return {k: float(v) for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def summary_scalars(summary: dict) -> dict[str, float]:
    return {f"summary/{k}": v for k, v in scalars(summary).items()}


def summary_markdown(summary: dict) -> str:
    rows = [f"| {k} | {v} |" for k, v in summary.items() if k != "curve"]
    return "| key | value |\n|---|---|\n" + "\n".join(rows)
