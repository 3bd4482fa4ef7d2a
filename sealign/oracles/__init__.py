"""Oracles by name. A new oracle is one module with a ``build(config, seed_offset)`` factory and one line here."""

from __future__ import annotations

import importlib

from sealign.config import RunConfig
from sealign.errors import ConfigError
from sealign.oracles.base import Oracle, Verdict

REGISTRY = {
    "bt-simulator": "sealign.oracles.factories:bt_simulator",
    "ground-truth": "sealign.oracles.factories:ground_truth",
    "reward-model": "sealign.oracles.reward_model:build",
    "pairwise": "sealign.oracles.pairwise:build",
    "judge": "sealign.oracles.judge:build",
    "rule": "sealign.oracles.rule:build",
    "human": "sealign.oracles.human:build",
}


def build_oracle(name: str, config: RunConfig, seed_offset: int = 0) -> Oracle:
    if name not in REGISTRY:
        raise ConfigError(f"unknown oracle {name!r}; choose one of: {', '.join(sorted(REGISTRY))}")
    if config.oracle_max_cost < 0:
        raise ConfigError(f"oracle_max_cost must be >= 0 (got {config.oracle_max_cost})")
    module, factory = REGISTRY[name].split(":")
    oracle = getattr(importlib.import_module(module), factory)(config, seed_offset)
    if config.oracle_max_cost > 0 and name == config.oracle:  # the cap is on the run's paid oracle, not its evaluator
        from sealign.oracles.budget import CostBudget

        oracle = CostBudget(oracle, config.oracle_max_cost)
    return oracle


__all__ = ["Oracle", "Verdict", "build_oracle", "REGISTRY"]
