"""Checkpoint I/O: files written atomically, and the process-global RNG states a resumed run restores.

``atomic_write`` writes a temporary file beside the target, flushes it to the disk and renames it
over the target (``os.replace``), so a crash at any point leaves the previous file whole. The
learner's checkpoint and the round snapshots of ``round_selection`` are both written this way.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sealign.errors import UserError, first_line


def atomic_write(path: Path, write: Callable, mode: str = "wb",
                 before_replace: Callable[[], None] | None = None) -> None:
    """``write(f)`` into ``path`` all or nothing: a temporary file, fsynced, then renamed over ``path``.
    ``before_replace`` runs after the fsync, before the rename (a crash test's fault point)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, mode) as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    if before_replace is not None:
        before_replace()
    os.replace(tmp, path)


def rng_states() -> dict:
    """The process-global RNG states (torch's CPU generator, numpy's legacy one, Python's ``random``)."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def load(path: Path, map_location) -> dict:
    """A checkpoint's state (a pickled dict of tensors and plain values, written by this package)."""
    return torch.load(path, map_location=map_location, weights_only=False)


@contextlib.contextmanager
def reading(path: Path):
    """Reading checkpoint ``path`` (and loading it into a model) inside: a missing, truncated or
    foreign file is one ``UserError`` line."""
    try:
        yield
    except (OSError, RuntimeError, KeyError, EOFError, pickle.UnpicklingError) as err:
        raise UserError(f"checkpoint {path} is missing or corrupt ({first_line(err)})") from err
