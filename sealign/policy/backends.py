"""The candidate-generation backends of ``BACKENDS`` (policy/settings.py), imported when chosen."""

from __future__ import annotations

import importlib

from sealign.policy.base import Policy, TrainablePolicy
from sealign.policy.settings import BACKENDS


def _named(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def check_backend(name: str) -> None:
    """Refuse in one line, before any model loads, where backend ``name`` cannot run."""
    check = BACKENDS[name].check
    if check:
        _named(check)()


def generation_policy(name: str, policy: TrainablePolicy, policy_path: str, config) -> Policy:
    """What the actor samples with: the learner's ``policy`` itself, or backend ``name``'s engine over
    its weights (saved at ``policy_path``)."""
    engine = BACKENDS[name].engine
    return _named(engine)(policy_path, policy, config) if engine else policy
