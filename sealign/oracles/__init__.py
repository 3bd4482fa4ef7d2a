"""Oracles by name. A new oracle is one module with a ``build(config)`` factory and one line here."""

from __future__ import annotations

import importlib

from sealign.config import RunConfig
from sealign.errors import ConfigError
from sealign.oracles.base import Oracle, Verdict

REGISTRY = {
    "bt-simulator": "sealign.oracles.factories:bt_simulator",
    "ground-truth": "sealign.oracles.factories:ground_truth",
}


def build_oracle(name: str, config: RunConfig, seed_offset: int = 0) -> Oracle:
    if name not in REGISTRY:
        raise ConfigError(f"unknown oracle {name!r}; choose one of: {', '.join(sorted(REGISTRY))}")
    module, factory = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), factory)(config, seed_offset)


__all__ = ["Oracle", "Verdict", "build_oracle", "REGISTRY"]
