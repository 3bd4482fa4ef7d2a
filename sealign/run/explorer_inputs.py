"""What the assembly builds for an explorer that an explorer may not build itself.

Explorers import neither ``tasks/`` nor ``oracles/`` (docs/extending.md), so the two that need
something from there are given it: ``pairwise-rank`` its pairwise preference model (an oracle's
reader, the built-in one trained on the built-in task), ``selm-rank`` its offline preference data
(a task's dataset, or a file). ``explorer_inputs(config, policy)`` returns the keyword arguments
``build_explorer`` passes on to the explorer's ``build``.

The study's headroom references (``headroom-*``) are given the task's true reward, and
``resolve_features`` turns ``--explore-features pairwise`` into the built-in preference model's folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sealign.data.preferences import load_preference_data
from sealign.data.prompts import load_prompts
from sealign.errors import ConfigError
from sealign.oracles import builtin_pairwise
from sealign.oracles.factories import load_reward_fn
from sealign.oracles.pairwise import PairwisePreferenceOracle
from sealign.policy.builtin import BootstrapSpec
from sealign.tasks import task_preference_data


def ranker_path(config) -> str:
    """The preference model's folder or Hub name; 'builtin' builds (once) the built-in task's."""
    if not config.ranker_model:
        raise ConfigError("pairwise-rank needs --ranker-model (a pairwise preference model folder or Hub name, "
                          "or 'builtin')")
    if config.ranker_model != "builtin":
        local = Path(config.ranker_model).expanduser()
        if (config.ranker_model.startswith((".", "/", "~")) or local.exists()) and not (local / "config.json").exists():
            raise ConfigError(f"--ranker-model {config.ranker_model!r} has no config.json; pass a folder written "
                              "by save_pretrained, a Hub model name, or 'builtin'")
        return config.ranker_model
    return builtin_pairwise_folder(config, "--ranker-model builtin is trained on the built-in task only",
                                   "a pairwise preference model of your own (--ranker-model PATH)")


def builtin_pairwise_folder(config, refusal: str, instead: str) -> str:
    """The built-in pairwise preference model's folder (built once); refused, as ``refusal`` and ``instead``
    say, on any prompts but the task it was trained on."""
    if config.prompts != "builtin" or config.task != builtin_pairwise.TASK.name:
        raise ConfigError(f"{refusal} ({builtin_pairwise.TASK.name}); with other prompts pass {instead}")
    cache = Path(config.cache_dir) if config.cache_dir else None
    spec = builtin_pairwise.PairwiseSpec(base=BootstrapSpec(sft_steps=config.sft_steps))
    return str(builtin_pairwise.ensure_pairwise_model(cache, spec))


def pairwise_ranker(config, policy=None) -> dict:
    if config.oracle_batch_size < 1 or config.oracle_max_length < 8:
        raise ConfigError("oracle_batch_size must be >= 1 and oracle_max_length >= 8 (they size the ranker's batches)")
    device = str(policy.device) if policy is not None else config.device
    ranker = PairwisePreferenceOracle.from_pretrained(
        ranker_path(config), device, config.dtype, batch_size=config.oracle_batch_size,
        max_length=config.oracle_max_length, name="pairwise-rank",
    )
    return {"ranker": ranker}


def selm_preference_data(config, policy=None) -> dict:
    """SELM's offline (prompt -> (chosen, rejected)) rows (Zhang et al. 2024, Algorithm 1's dataset)."""
    if config.preference_data == "builtin":
        if config.prompts != "builtin":
            raise ConfigError(f"--preference-data builtin is the {config.task} task's, written for its own prompts; "
                              "with yours pass a .jsonl of (prompt, chosen, rejected) rows")
        train, _ = load_prompts(config)
        return {"data": task_preference_data(config.task, [p.text for p in train], config.seed,
                                             "--preference-data")}
    # the same files and datasets as --offline-data (sealign/data/preferences.py)
    return {"data": {row.prompt: (row.chosen, row.rejected) for row in load_preference_data(config.preference_data)}}


def true_reward(config, policy=None) -> dict:
    """The task's ground-truth reward ``(prompt, response) -> float | None``, for the headroom references."""
    if config.prompts != "builtin" and config.reward_fn == "builtin":
        raise ConfigError(f"--explorer {config.explorer} reads the task's true reward: on your own prompts pass "
                          "--reward-fn")
    return {"reward_fn": load_reward_fn(config.reward_fn, config.task)}


def resolve_features(config):
    """``config`` with ``explore_features='pairwise'`` replaced by the built-in pairwise model's folder
    (built once): a preference-trained encoder for the heads, as oat's PairRM backbone is."""
    if config.explore_features != "pairwise":
        return config
    folder = builtin_pairwise_folder(config, "--explore-features pairwise is the built-in task's preference model",
                                     "an encoder folder of your own (--explore-features PATH)")
    return dataclasses.replace(config, explore_features=folder)


INPUTS = {"pairwise-rank": pairwise_ranker, "selm-rank": selm_preference_data,
          "headroom-max-gap": true_reward, "headroom-coin-flip": true_reward}
"""``--explorer`` name -> ``(config, policy) -> keyword arguments of its build``; most explorers need none."""


def explorer_inputs(config, policy=None) -> dict:
    return INPUTS[config.explorer](config, policy) if config.explorer in INPUTS else {}
