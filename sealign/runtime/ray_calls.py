"""Talking to Ray from the driver: connecting to a cluster, calling workers, and what a worker's death
means (``sealign/runtime/ray.py``'s module docstring tells the whole story, faults included)."""

from __future__ import annotations

import logging
from pathlib import Path

from sealign.errors import UserError, first_line
from sealign.runtime.settings import RuntimeSettings


def import_ray():
    try:
        import ray
    except ImportError as err:
        raise UserError("--runtime ray needs the ray extra: pip install 'sealign[ray]'") from err
    return ray


def connect(settings: RuntimeSettings):
    """Attach to ``settings.ray_address``, or start a local cluster (2 CPUs, no dashboard)."""
    ray = import_ray()
    if ray.is_initialized():  # a second run in the same process reuses the cluster
        return ray
    try:
        if settings.ray_address:
            ray.init(address=settings.ray_address, logging_level=logging.WARNING)
        else:
            # "local": a cluster of its own. Without an address Ray attaches to the machine's latest
            # cluster (another run's, a test's), which refuses num_cpus.
            ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = settings.ray_address or "a local cluster"
        raise UserError(f"cannot start Ray on {where}: {first_line(err)}") from err
    return ray


CALL_RETRIES = 3
"""How many times a call to an actor or oracle worker is run again on the restarted worker after the
worker died in it; one death more and the run stops (``WorkerLost``)."""


def fault_options(restart: bool) -> dict:
    """Ray's options for a worker that can be rebuilt (``restart``: brought back as often as it dies,
    each call run again up to ``CALL_RETRIES`` times) or cannot (the learner: never restarted)."""
    return dict(max_restarts=-1, max_task_retries=CALL_RETRIES) if restart else dict(max_restarts=0)


class WorkerLost(UserError):
    """A Ray worker died and was not brought back (the learner, or a worker past its retries): the
    run stops with one line that says how to continue it."""


def fetch(refs, role: str | None = None, run_dir: Path | None = None):
    """``ray.get`` that turns a worker's ``UserError`` back into one line for the CLI, and, with
    ``role``, the death of the worker(s) that ``refs`` come from into a one-line ``WorkerLost``."""
    ray = import_ray()
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as err:
        cause = err.cause if hasattr(err, "cause") else None
        if isinstance(cause, UserError):
            raise UserError(str(cause)) from None
        raise
    except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError, ray.exceptions.NodeDiedError,
            ray.exceptions.WorkerCrashedError) as err:
        if role is None:
            raise
        raise WorkerLost(lost_line(role, run_dir, err)) from None


def lost_line(role: str, run_dir: Path | None, err: Exception) -> str:
    """What to say when the ``role`` worker died for good: what happened, and how to go on."""
    if run_dir is not None and (run_dir / "config.yaml").is_file():
        how = (f"every answer asked so far is in the feedback log: continue the run with "
               f"`sealign run --resume {run_dir}`")
    else:
        how = "nothing was asked yet: start the run again"
    return f"the Ray {role} died and was not brought back ({type(err).__name__}: {first_line(err, 160)}); {how}"


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous, near-equal ``[lo, hi)`` ranges covering ``range(n)``; empty ones dropped."""
    cuts = [round(k * n / shards) for k in range(shards + 1)]
    return [(lo, hi) for lo, hi in zip(cuts, cuts[1:]) if hi > lo]
