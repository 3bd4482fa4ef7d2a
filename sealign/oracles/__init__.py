"""Oracles by name. A new oracle is one module with a ``build(config, seed_offset)`` factory and one line here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealign.errors import ConfigError
from sealign.lookup import pick
from sealign.oracles import factories, human, judge, pairwise, reward_model, reward_server, rule
from sealign.oracles.base import Oracle, Verdict
from sealign.oracles.budget import CostBudget
from sealign.oracles.watch import SilenceWatch

if TYPE_CHECKING:
    from sealign.oracles.settings import OracleSettings

REGISTRY = {
    "bt-simulator": factories.bt_simulator,
    "ground-truth": factories.ground_truth,
    "reward-model": reward_model.build,
    "reward-server": reward_server.build,
    "pairwise": pairwise.build,
    "judge": judge.build,
    "rule": rule.build,
    "human": human.build,
}
"""``build(config, seed_offset) -> Oracle`` by ``--oracle`` name."""


def build_oracle(name: str, config: OracleSettings, seed_offset: int = 0) -> Oracle:
    build = pick("oracle", name, REGISTRY)
    if config.oracle_max_cost < 0:
        raise ConfigError(f"oracle_max_cost must be >= 0 (got {config.oracle_max_cost})")
    oracle = build(config, seed_offset)
    # A silent oracle is said so and stopped (people are waited for: a quiet night is no fault).
    if not getattr(oracle, "waits_for_people", False):
        oracle = SilenceWatch(oracle, config.oracle_max_silent_steps)
    if config.oracle_max_cost > 0 and name == config.oracle:  # the cap is on the run's paid oracle, not its evaluator
        oracle = CostBudget(oracle, config.oracle_max_cost)
    return oracle


__all__ = ["Oracle", "Verdict", "build_oracle", "REGISTRY"]
