"""Where the loop's parts run: ``local`` (one process, the default) or ``ray`` (Ray actors).

The loop never knows which: both runtimes hand it an actor, an oracle and a learner with the same
methods (``ActorHandle``, ``Oracle``, the learner's ``step`` / ``train_epochs`` / ``save``), and
the loop's one runtime hook, ``actor.sync_weights(learner)`` after each update, is a no-op locally.
"""

from __future__ import annotations

from sealign.runtime.base import ActorHandle, Runtime
from sealign.runtime.settings import RuntimeSettings


def build_runtime(config) -> Runtime:
    """The configured runtime (its group: ``RuntimeSettings``, sealign/runtime/settings.py); ``ray``
    connects to (or starts) its cluster here, before any model load. ``config`` is the run's whole
    config: a runtime builds the parts it hosts (actor, oracle, learner), each from its own group."""
    from sealign.policy.backends import check_backend

    check_backend(config.policy_backend)  # a one-line refusal before anything slow happens
    if config.part(RuntimeSettings).runtime == "ray":
        from sealign.runtime.ray import RayRuntime

        return RayRuntime(config)
    from sealign.runtime.local import LocalRuntime

    return LocalRuntime(config)


__all__ = ["ActorHandle", "Runtime", "build_runtime"]
