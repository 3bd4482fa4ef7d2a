"""Built-in tasks by name (``--task``): where ``--prompts builtin`` and ``--reward-fn builtin`` come from.

A task is a ``Task`` (``sealign/tasks/base.py``): its name, ``train_prompts(n)`` and
``eval_prompts(n)`` (prompt texts, the same on every machine) and ``prompt_reward(prompt, response)
-> float | None`` (the ground truth behind the simulated oracles and the evaluation judge); it may
add ``eval_scores`` (more readings of a response that the evaluation records beside the reward),
``preference_data`` (its own offline preference data: ``--offline-data builtin``, SELM's
``--preference-data builtin``) and ``demonstrations`` (what its own built-in SFT policy is trained
on). A new task is one module with a ``TASK = Task(...)`` and one line here.
"""

from __future__ import annotations

from sealign.errors import ConfigError
from sealign.tasks import constraints, summarize, summarize_hard
from sealign.tasks.base import Task

DEFAULT_TASK = "tldr"
"""``--task``'s default, and the task of the built-in policy for runs of a task without demonstrations."""

REGISTRY: dict[str, Task] = {task.name: task for task in [
    summarize.TASK,  # tldr: generated posts to summarise; the tiny built-in policy's task
    summarize_hard.TASK,  # tldr-hard: tldr with decoy facts and a fifth fact; its own built-in policy
    constraints.TASK,  # constraints: real-text instructions with verifiable constraints
]}


def get_task(name: str) -> Task:
    if name not in REGISTRY:
        raise ConfigError(f"unknown task {name!r}; choose one of: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def task_preference_data(name: str, prompts: list[str], seed: int, flag: str) -> dict[str, tuple[str, str]]:
    """The task's own offline preference data for ``prompts``: ``{prompt: (chosen, rejected)}``. A task
    without any is refused in one line naming ``flag``, never given another task's."""
    task = get_task(name)
    if task.preference_data is None:
        having = sorted(other.name for other in REGISTRY.values() if other.preference_data is not None)
        raise ConfigError(f"{flag} builtin: the {name} task has no offline preference data of its own (the tasks "
                          f"with some: {', '.join(having)}); pass a .jsonl of (prompt, chosen, rejected) rows")
    return task.preference_data(prompts, seed=seed)
