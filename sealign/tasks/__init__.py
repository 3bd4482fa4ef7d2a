"""Built-in tasks by name (``--task``): where ``--prompts builtin`` and ``--reward-fn builtin`` come from.

A task is a module with ``train_prompts(n)`` and ``eval_prompts(n)`` (prompt texts, the same on
every machine) and ``prompt_reward(prompt, response) -> float | None`` (the ground truth behind the
simulated oracles and the evaluation judge); it may add ``EVAL_SCORES``, more readings of a response
that the evaluation records beside the reward, and ``builtin_preference_data(prompts, seed)``, its own
offline preference data (``--offline-data builtin``, SELM's ``--preference-data builtin``). A new task
is one such module and one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from sealign.errors import ConfigError

REGISTRY = {
    "tldr": "sealign.tasks.summarize",  # generated posts to summarise; the tiny built-in policy's task
    "tldr-hard": "sealign.tasks.summarize_hard",  # tldr with decoy facts and a fifth fact; its own built-in policy
    "constraints": "sealign.tasks.constraints",  # real-text instructions with verifiable constraints
}


def get_task(name: str) -> ModuleType:
    if name not in REGISTRY:
        raise ConfigError(f"unknown task {name!r}; choose one of: {', '.join(sorted(REGISTRY))}")
    return importlib.import_module(REGISTRY[name])


def task_eval_scores(name: str) -> dict:
    """The task's own readings of a response beside its reward (``eval/NAME`` in metrics.jsonl)."""
    return dict(getattr(get_task(name), "EVAL_SCORES", {}))


def task_preference_data(name: str, prompts: list[str], seed: int, flag: str) -> dict[str, tuple[str, str]]:
    """The task's own offline preference data for ``prompts``: ``{prompt: (chosen, rejected)}``. A task
    without any is refused in one line naming ``flag``, never given another task's."""
    make = getattr(get_task(name), "builtin_preference_data", None)
    if make is None:
        having = [task for task in sorted(REGISTRY) if hasattr(get_task(task), "builtin_preference_data")]
        raise ConfigError(f"{flag} builtin: the {name} task has no offline preference data of its own (the tasks "
                          f"with some: {', '.join(having)}); pass a .jsonl of (prompt, chosen, rejected) rows")
    return make(prompts, seed=seed)
