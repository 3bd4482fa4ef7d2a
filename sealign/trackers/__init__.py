"""`--report-to tensorboard,wandb,trackio`: mirrors of metrics.jsonl in the experiment trackers people already use.

metrics.jsonl stays the record of a run; a tracker receives the same records under the same names
(x axis: the loop step; `queries` is one of the scalars), the resolved config at the start, and the
summary and the win-rate plot at the end. The learner's quantities go to the trackers under TRL's
names too (``TRL_NAMES``: `train/rewards/margins`, `train/objective/kl`, ...), so a sealign run and a
TRL run line up on one dashboard. A new tracker is one module with ``open_tracker`` and one line in
``REGISTRY``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

from sealign.errors import ConfigError

REGISTRY = {
    "tensorboard": "sealign.trackers.tensorboard",
    "wandb": "sealign.trackers.wandb",
    "trackio": "sealign.trackers.trackio",
}

TRL_NAMES = {
    "loss": "train/loss",
    "rewards/chosen": "train/rewards/chosen",
    "rewards/rejected": "train/rewards/rejected",
    "rewards/margin": "train/rewards/margins",
    "rewards/accuracy": "train/rewards/accuracies",
    "logps/chosen": "train/logps/chosen",
    "logps/rejected": "train/logps/rejected",
    "kl": "train/objective/kl",
    "grad_norm": "train/grad_norm",
    "lr": "train/learning_rate",
    "step": "train/global_step",
}
"""sealign's name -> the name a TRL DPO / online-DPO run has in a tracker (the Trainer's logs, which every
tracker callback of transformers prefixes with `train/`). The metrics keep their own names too."""


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


def metric_scalars(record: dict) -> dict[str, float]:
    """A metrics record as a tracker logs it: its numbers under their own names and TRL's (``TRL_NAMES``)."""
    numbers = scalars(record)
    if isinstance(record.get("step"), int):
        numbers["step"] = float(record["step"])
    aliases = {TRL_NAMES[k]: v for k, v in numbers.items() if k in TRL_NAMES}
    numbers.pop("step", None)  # the trackers' x axis, not a scalar of its own
    return numbers | aliases


def summary_scalars(summary: dict) -> dict[str, float]:
    return {f"summary/{k}": v for k, v in scalars(summary).items()}


def summary_markdown(summary: dict) -> str:
    rows = [f"| {k} | {v} |" for k, v in summary.items() if k != "curve"]
    return "| key | value |\n|---|---|\n" + "\n".join(rows)
