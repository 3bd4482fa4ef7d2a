"""Factories that turn the run's settings into the simulated oracles of the built-in setting."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from sealign.errors import ConfigError
from sealign.oracles.simulator import BradleyTerrySimulator, RewardFn

if TYPE_CHECKING:
    from sealign.oracles.settings import OracleSettings


def load_reward_fn(spec: str, task: str = "tldr") -> RewardFn:
    """'builtin' (the reward of the built-in ``task``) or an import path 'package.module:function'
    of f(prompt, response) -> float."""
    if spec == "builtin":
        from sealign.tasks import get_task

        return get_task(task).prompt_reward
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ConfigError(f"reward_fn {spec!r} must look like 'package.module:function'")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except Exception as err:  # the user's module: SyntaxError or any error its import raises, as one line
        raise ConfigError(f"cannot import reward_fn {spec!r}: {type(err).__name__}: {err}") from err
    if not callable(fn):
        raise ConfigError(f"reward_fn {spec!r} is not callable")
    return fn


def bt_simulator(config: OracleSettings, seed_offset: int = 0) -> BradleyTerrySimulator:
    return BradleyTerrySimulator(
        load_reward_fn(config.reward_fn, config.task), config.oracle_temperature, config.oracle_deterministic,
        seed=config.seed + seed_offset, consistent=config.oracle_consistent,
    )


def ground_truth(config: OracleSettings, seed_offset: int = 0) -> BradleyTerrySimulator:
    """The noiseless judge used for evaluation: the higher reward wins, equal rewards tie."""
    return BradleyTerrySimulator(
        load_reward_fn(config.reward_fn, config.task), temperature=1.0, deterministic=True, name="ground-truth"
    )
