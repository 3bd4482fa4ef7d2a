"""The cache of built models (the built-in SFT policy, its pairwise preference model, converted
offline models): where it is, and how a folder in it is built once, even by parallel runs."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("SEALIGN_CACHE", Path.home() / ".cache" / "sealign"))


def build_once(target: Path, build, what: str, log=print) -> Path:
    """``target``, after ``build(folder)`` has filled it if it had no ``config.json`` yet.

    Parallel runs on a cold cache (``sealign compare --jobs N``) build it once: the builder holds an
    exclusive lock on ``.NAME.lock`` beside ``target``, and the others wait for it, then load its
    result. The build writes a scratch folder renamed into place, so no run ever sees half a model;
    a build killed half-way leaves its scratch folder behind, removed by the next build.
    """
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(target, what, log):
        if (target / "config.json").exists():  # another process built it while this one waited
            return target
        remove_stale_scratch(target)
        log(f"building {what} (once, cached in {target}) ...")
        start = time.perf_counter()
        scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=scratch_prefix(target)))
        try:
            build(scratch)
            scratch.rename(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # a failed build leaves nothing half-written
        log(f"built {what} in {time.perf_counter() - start:.0f}s")
    return target


@contextmanager
def build_lock(target: Path, what: str, log=print):
    """Hold ``.NAME.lock`` beside ``target`` exclusively, waiting for a process that holds it. The
    kernel releases an ``flock`` when its holder dies, so a killed build never blocks the next one."""
    with open(target.parent / f".{target.name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process building {what} ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def scratch_prefix(target: Path) -> str:
    return f".{target.name}.build-"


def remove_stale_scratch(target: Path) -> None:
    """Scratch folders of ``target`` left by killed builds, and a ``target`` without ``config.json``:
    only the lock holder builds ``target``, so nothing else can be writing them."""
    for leftover in target.parent.iterdir():
        if leftover.name.startswith(scratch_prefix(target)):
            shutil.rmtree(leftover, ignore_errors=True)
    if target.exists():
        shutil.rmtree(target)
