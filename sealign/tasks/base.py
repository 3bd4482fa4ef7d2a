"""What a task is: the parts every task has, and the hooks a task may add.

A task (``--task NAME``) is what ``--prompts builtin`` and ``--reward-fn builtin`` stand for: its prompts
(the same on every machine) and its ground-truth reward (behind the simulated oracles and the
evaluation judge). Each task module exposes one ``TASK = Task(...)``; ``sealign/tasks/__init__.py``
names them. Code that needs an optional part asks for it (``task.preference_data is not None``),
never for a task's name.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ResponseScore = Callable[[str, str], float | None]
"""``(prompt, response) -> float``, or None where it cannot say (an abstention; skipped)."""


@dataclass(frozen=True)
class Demonstrations:
    """Generated examples with human-like, imperfect demonstrations: what the built-in SFT policy
    (``sealign/policy/builtin.py``) is trained on for this task's runs. An example is the task's own
    record (a post with its facts); its ``.prompt`` is the prompt text."""

    make_example: Callable[[random.Random], Any]
    """One example drawn from ``rng`` (the SFT batches)."""
    make_examples: Callable[[int, int], list]
    """``(n, seed)``: ``n`` examples of a seeded generator (the tokenizer's corpus)."""
    noisy_demonstration: Callable[..., str]
    """``(example, rng, keep_fact=0.5)``: an imperfect answer, as a hurried human writes one."""
    ideal_response: Callable[[Any], str]
    """The best answer to ``example``."""
    extra_words: tuple[str, ...] = ()
    """Words the demonstrations use that the examples may not show (added to the tokenizer's corpus)."""


@dataclass(frozen=True)
class Task:
    name: str
    """Its ``--task`` name."""
    train_prompts: Callable[[int], list[str]]
    """``n`` training prompts, the same on every machine."""
    eval_prompts: Callable[[int], list[str]]
    """``n`` held-out prompts, never among the training prompts."""
    prompt_reward: ResponseScore
    """The ground-truth reward of a response to one of its prompts."""
    eval_scores: Mapping[str, ResponseScore] = field(default_factory=dict)
    """More readings of a response that the evaluation records beside the reward (``eval/NAME``)."""
    preference_data: Callable[..., dict[str, tuple[str, str]]] | None = None
    """``(prompts, seed=...) -> {prompt: (chosen, rejected)}``: its own offline preference data
    (``--offline-data builtin``, SELM's ``--preference-data builtin``); None: it has none."""
    demonstrations: Demonstrations | None = None
    """What its own built-in SFT policy is trained on; None: runs of it use the default task's."""
