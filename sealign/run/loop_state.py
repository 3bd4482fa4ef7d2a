"""Where a run stands; saved in every checkpoint so that `--resume` continues from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LoopState:
    step: int = 0
    queries: int = 0
    metrics_lines: int = 0
    elapsed_s: float = 0.0
    rounds_done: int = 0
    round_start_step: int = 0
    stop_reason: str = ""
    """Why the run stopped before its budget (--stop-on-collapse); empty while it runs."""
