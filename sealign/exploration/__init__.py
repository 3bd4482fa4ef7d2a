"""Explorers by name. A new explorer is one module with ``build(config, policy)`` and one line here.

Each module also exposes its pure rule ``select_pair(rewards [K, M], rng) -> (i, j) | None``,
which the dueling-bandit testbed (bench/bandit.py) drives directly; see docs/exploration.md.
Two have no such rule: ``selm-rank`` (the oracle ranks a triple) and ``pairwise-rank``, whose
``select_pair`` reads an [M, M] win-probability matrix of a pairwise preference model.
"""

from __future__ import annotations

import importlib

from sealign.errors import ConfigError
from sealign.exploration.base import Explorer, Pair

REGISTRY = {
    "passive": "sealign.exploration.passive",
    "ensemble-passive": "sealign.exploration.ensemble_passive",
    "sea-ee": "sealign.exploration.sea_ee",
    "sea-bai": "sealign.exploration.sea_bai",
    "uncertainty": "sealign.exploration.uncertainty",
    "apl": "sealign.exploration.apl",
    "best-worst": "sealign.exploration.best_worst",
    "ids": "sealign.exploration.ids",
    "selm-rank": "sealign.exploration.selm_rank",
    "pairwise-rank": "sealign.exploration.pairwise_rank",
    "xpo": "sealign.exploration.xpo",
}


def build_explorer(config, policy=None) -> Explorer:
    """The configured explorer; ``policy`` is there for explorers that embed with its backbone."""
    if config.explorer not in REGISTRY:
        raise ConfigError(f"unknown explorer {config.explorer!r}; choose one of: {', '.join(sorted(REGISTRY))}")
    return importlib.import_module(REGISTRY[config.explorer]).build(config, policy)


def pair_rule(name: str):
    """The pure ``select_pair(rewards, rng)`` of the explorer ``name`` (defaults for its options)."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown explorer {name!r}; choose one of: {', '.join(sorted(REGISTRY))}")
    module = importlib.import_module(REGISTRY[name])
    if getattr(module, "RULE_INPUT", "rewards") != "rewards" or not hasattr(module, "select_pair"):
        # selm-rank ranks a triple with the oracle; pairwise-rank reads an [M, M] win matrix of a model
        raise ConfigError(f"explorer {name!r} has no rule over [K, M] reward samples (nothing to run in the "
                          "bandit testbed)")
    return module.select_pair


__all__ = ["Explorer", "Pair", "build_explorer", "pair_rule", "REGISTRY"]
