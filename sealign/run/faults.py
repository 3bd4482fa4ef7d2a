"""Fault injection for crash tests: `SEALIGN_FAULT=PHASE@STEP` kills the process (SIGKILL, as kill -9)
when the loop reaches that phase of that step. Unset, it costs one dictionary lookup."""

from __future__ import annotations

import os
import signal

FAULT_ENV = "SEALIGN_FAULT"
PHASES = ("generated", "answered", "logged", "learned", "checkpoint", "evaluated")


def fault_point(phase: str, step: int) -> None:
    if os.environ.get(FAULT_ENV) == f"{phase}@{step}":
        os.kill(os.getpid(), signal.SIGKILL)
