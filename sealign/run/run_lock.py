"""One process per run directory: an exclusive lock held for the life of a run.

Two processes writing one feedback log and one ``metrics.jsonl`` would both append, the second
ending in an SQLite integrity error and a duplicated metrics row. ``flock`` is released by the
kernel when its holder dies (kill -9 included), so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from sealign.errors import UserError

LOCK_NAME = "run.lock"


@contextmanager
def run_lock(run_dir: Path):
    """Hold ``RUN_DIR/run.lock`` exclusively; a second holder gets a one-line error naming the first's pid."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise UserError(f"{run_dir} is in use by another sealign process (pid {holder}); "
                        "wait for it to finish or stop it first") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock
