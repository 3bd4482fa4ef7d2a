"""Explorers by name. A new explorer is one module with ``build(config, policy)`` and one line in ``REGISTRY``.

Most modules also expose their pure rule ``select_pair(rewards [K, M], rng) -> (i, j) | None``
(``PAIR_RULES``), which the dueling-bandit testbed (bench/bandit.py) drives directly; see
docs/exploration.md. Three have no such rule: ``selm-rank`` (the oracle ranks a triple),
``pairwise-rank`` (its ``select_pair`` reads an [M, M] win-probability matrix of a pairwise
preference model) and ``xpo`` (the pair is fixed by where the candidates were sampled).
"""

from __future__ import annotations

from sealign.errors import ConfigError
from sealign.exploration import (
    apl,
    best_worst,
    delta_ucb,
    drts,
    ensemble_passive,
    headroom,
    ids,
    pairwise_rank,
    passive,
    sea_bai,
    sea_ee,
    selm_rank,
    uncertainty,
    xpo,
)
from sealign.exploration.base import Explorer, Pair, Query
from sealign.exploration.settings import ExplorationSettings
from sealign.lookup import pick

REGISTRY = {
    "passive": passive.build,
    "passive-any": passive.build_any,
    "ensemble-passive": ensemble_passive.build,
    "sea-ee": sea_ee.build,
    "sea-bai": sea_bai.build,
    "uncertainty": uncertainty.build,
    "apl": apl.build,
    "best-worst": best_worst.build,
    "ids": ids.build,
    "drts": drts.build,
    "delta-ucb": delta_ucb.build,
    "selm-rank": selm_rank.build,
    "pairwise-rank": pairwise_rank.build,
    "xpo": xpo.build,
    # references, not explorers: they read the task's true reward (bench/factor_study.py's headroom)
    "headroom-max-gap": headroom.build_max_gap,
    "headroom-coin-flip": headroom.build_coin_flip,
}
"""``build(config, policy=None, **injected) -> Explorer`` by ``--explorer`` name."""

PAIR_RULES = {
    "passive": passive.select_pair,
    "passive-any": passive.select_pair,
    "ensemble-passive": ensemble_passive.select_pair,
    "sea-ee": sea_ee.select_pair,
    "sea-bai": sea_bai.select_pair,
    "uncertainty": uncertainty.select_pair,
    "apl": apl.select_pair,
    "best-worst": best_worst.select_pair,
    "ids": ids.select_pair,
    "drts": drts.select_pair,
    "delta-ucb": delta_ucb.select_pair,
}
"""The pure ``select_pair(rewards [K, M], rng)`` of the explorers that have one (defaults for their options)."""


def build_explorer(config: ExplorationSettings, policy=None, **injected) -> Explorer:
    """The configured explorer; ``policy`` is there for explorers that embed with its backbone, and
    ``injected`` holds what the assembly builds for an explorer (the pairwise ranker).

    ``config`` is the run's config (a ``RunConfig`` is every group, ``ExplorationSettings`` among them),
    handed on whole to the explorer's ``build``: most read only their ``ExplorationSettings`` (their
    ``build`` says so in its annotation); the ensemble explorers also read the run's ``seed``
    (``build_epistemic``), ``apl`` the loss's ``beta`` and ``xpo`` the actor's ``reference_candidates``."""
    return pick("explorer", config.explorer, REGISTRY)(config, policy, **injected)


def pair_rule(name: str):
    """The pure ``select_pair(rewards, rng)`` of the explorer ``name`` (defaults for its options)."""
    pick("explorer", name, REGISTRY)
    if name not in PAIR_RULES:
        # selm-rank ranks a triple with the oracle; pairwise-rank reads an [M, M] win matrix of a model
        raise ConfigError(f"explorer {name!r} has no rule over [K, M] reward samples (nothing to run in the "
                          "bandit testbed)")
    return PAIR_RULES[name]


__all__ = ["Explorer", "Pair", "Query", "build_explorer", "pair_rule", "PAIR_RULES", "REGISTRY"]
