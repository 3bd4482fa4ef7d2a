"""The constraints task: real-text instructions with verifiable constraints (IFEval-like).

Each prompt is a short writing request on an everyday topic followed by 1-3 constraints (a word
limit, a word to include or avoid, a number of bullets or sentences, all lowercase or capitals, a
closing phrase, a JSON shape, no commas; see ``constraint_checks.KINDS``). The prompts are made
here, deterministically, from topic lists x request templates x constraint templates: 512 of them,
the first 384 for training and the last 128 held out for evaluation, the same on every machine.

    reward(prompt, response) = mean over the prompt's constraints of credit(constraint, response)
    credit = 1 when met, else MAX_PARTIAL (0.5) * closeness in [0, 1] (how near the miss is)

so meeting one more constraint always pays more than coming closer on the others, and a response
meeting all of them scores 1. The partial credit is there because a strict fraction makes most
pairs of one small model's samples tie (they meet the same constraints), and ties teach a
preference learner nothing. The strict fraction is recorded beside it (``EVAL_SCORES``).

The constraints are read back from the prompt text, so the reward is a plain function of
(prompt, response): the ``rule`` oracle and the Bradley-Terry simulator use it as they use any
``--reward-fn``. A prompt that states no constraint cannot be judged (the reward is None).
"""

from __future__ import annotations

import random
from functools import cache

from sealign.tasks.constraint_checks import KINDS, Constraint, conflicts, fraction_met, graded_credit

TOPICS = (
    "drinking coffee", "public libraries", "learning to swim", "city cycling", "houseplants", "rainy days",
    "moving to a new town", "board games", "baking bread", "train travel", "volunteering", "a first job",
    "learning a language", "camping", "saving money", "street food", "morning routines", "museums",
    "keeping a journal", "remote work", "dogs", "recycling", "night skies", "running a marathon",
    "cooking for friends", "old photographs", "winter sports", "a small garden", "podcasts", "bicycles",
    "handwritten letters", "the ocean", "music lessons", "a long flight", "farmers markets", "sleep",
)
REQUESTS = (
    "Write a short note about {topic}.",
    "Explain to a friend why you care about {topic}.",
    "Give some advice about {topic}.",
    "Describe {topic} to someone who has never tried it.",
    "Write a brief review of {topic}.",
    "Tell a tiny story about {topic}.",
)
# Parameters of the constraints, chosen so that a response of about 48 tokens can meet each one.
VALUES = {
    "max-words": ("15", "20", "30"),
    "min-words": ("8", "12", "20"),
    "required-word": ("because", "today", "simple", "remember", "always", "together"),
    "forbidden-word": ("very", "really", "the", "and", "good", "is"),
    "bullets": ("2", "3", "4"),
    "sentences": ("2", "3"),
    "json": ('"title" and "summary"', '"topic" and "advice"', '"mood" and "reason"'),
    "lowercase": ("",),
    "uppercase": ("",),
    "closing-phrase": ("Any questions?", "That is all.", "Thanks for reading."),
    "no-commas": ("",),
}
NUM_PROMPTS = 512
NUM_EVAL = 128
SEED = 13


def make_constraints(rng: random.Random) -> list[Constraint]:
    """1-3 constraints that can all be met together."""
    chosen: list[Constraint] = []
    want = rng.choice((1, 2, 2, 3))
    kinds = list(KINDS.values())
    while len(chosen) < want:
        kind = rng.choice(kinds)
        candidate = Constraint(kind, rng.choice(VALUES[kind.name]))
        if not conflicts(chosen, candidate):
            chosen.append(candidate)
    return chosen


@cache
def all_prompts() -> tuple[str, ...]:
    """The task's prompts, distinct, in a fixed order: train first, then eval."""
    rng = random.Random(SEED)
    bases = [request.format(topic=topic) for topic in TOPICS for request in REQUESTS]
    prompts: dict[str, None] = {}
    while len(prompts) < NUM_PROMPTS:
        text = " ".join([rng.choice(bases), *(c.describe() for c in make_constraints(rng))])
        prompts[text] = None
    return tuple(prompts)


def train_prompts(n: int) -> list[str]:
    """The first ``n`` of the 384 training prompts (the split is fixed: a larger ``n`` gets all of them)."""
    return list(all_prompts()[:-NUM_EVAL][:n])


def eval_prompts(n: int) -> list[str]:
    """The first ``n`` of the 128 held-out prompts."""
    return list(all_prompts()[-NUM_EVAL:][:n])


def prompt_reward(prompt: str, response: str) -> float | None:
    """Fraction of the prompt's constraints met, with partial credit for near misses (see the module docstring)."""
    return graded_credit(prompt, response)


# The strict reading beside the graded reward: how many constraints the policy's answers really meet.
EVAL_SCORES = {"constraints_met": fraction_met}
