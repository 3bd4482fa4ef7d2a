"""The built-in task made harder (``--task tldr-hard``): more facts, decoy facts, rarer good summaries.

Each post tells of an outing as in ``tldr`` (sealign/tasks/summarize.py) and adds a fifth key fact,
*when* it happened, plus one or two decoy plans ("my boss keeps asking to go surfing in lima next
summer .") whose activity, place, companion and time are fact words of the post that are *not* its
key facts, among two to four distractor sentences. A good summary names the five key facts, none of
the decoys, and is short:

    r(post, summary) = coverage ** 2 - 0.25 * hallucinations - 0.03 * max(0, words - 10)
                       (and -1, the floor, for a summary that names no key fact)

``coverage`` is the fraction of the five key facts named; squared, partial summaries earn much less
than complete ones, so high rewards are rare under the SFT policy. ``hallucinations`` counts fact
words (any activity/place/companion/verdict/time) that are not the post's key facts: a decoy copied
from the post counts. The ideal summary ("hiking in oslo with sister last weekend , amazing .") has 10
words and scores 1. Without the floor, saying nothing (0) beats the SFT policy's decoy-ridden
summaries (about -0.6) and every recipe learned to answer in one or two filler words: a summary that
names no key fact is useless to a reader, so it scores worst.

The SFT demonstrations keep each fact with probability one half and take a decoy's fact instead a
quarter of the time, so about 3% of them name all five facts and no decoy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sealign.tasks.base import Demonstrations, Task
from sealign.tasks.summarize import (
    ACTIVITIES,
    COMPANIONS,
    DISTRACTORS,
    FILLERS,
    HALLUCINATION_PENALTY,
    PLACES,
    VERBOSITY_PENALTY,
    VERDICT_TEMPLATES,
    VERDICTS,
    WHEN,
    preference_pairs,
    with_fillers,
)

FACT_VOCABULARY = frozenset(ACTIVITIES + PLACES + COMPANIONS + VERDICTS + WHEN)
IDEAL_WORDS = 10
NO_FACT_REWARD = -1.0
DECOY_MARK = "keeps asking to go"
OUTING_TEMPLATES = (
    "last {when} i went {activity} in {place} with my {companion} .",
    "my {companion} and i went {activity} in {place} last {when} .",
    "i spent last {when} in {place} , {activity} with my {companion} .",
)
DECOY_TEMPLATE = "my {companion} " + DECOY_MARK + " {activity} in {place} next {when} ."
TRAIN_SEED = 1_100
EVAL_SEED = 2_100
PROMPT_PREFIX = "post :"
PROMPT_SUFFIX = "tl;dr :"


@dataclass(frozen=True)
class Post:
    """One generated post with its hidden key facts and its decoys' facts."""

    text: str
    activity: str
    place: str
    companion: str
    verdict: str
    when: str
    decoys: tuple[tuple[str, str, str, str], ...] = ()  # (activity, place, companion, when) of each decoy

    @property
    def facts(self) -> tuple[str, str, str, str, str]:
        return (self.activity, self.place, self.companion, self.verdict, self.when)

    @property
    def prompt(self) -> str:
        return f"{PROMPT_PREFIX} {self.text} {PROMPT_SUFFIX}"


def _other(rng: random.Random, vocabulary: tuple[str, ...], used: set[str]) -> str:
    return rng.choice([w for w in vocabulary if w not in used])


def make_post(rng: random.Random) -> Post:
    activity, place = rng.choice(ACTIVITIES), rng.choice(PLACES)
    companion, verdict, when = rng.choice(COMPANIONS), rng.choice(VERDICTS), rng.choice(WHEN)
    used = {activity, place, companion, when}
    outing = rng.choice(OUTING_TEMPLATES).format(when=when, activity=activity, place=place, companion=companion)
    decoys = []
    for _ in range(rng.randint(1, 2)):
        decoy = tuple(_other(rng, vocab, used) for vocab in (ACTIVITIES, PLACES, COMPANIONS, WHEN))
        used.update(decoy)
        decoys.append(decoy)
    decoy_sentences = [DECOY_TEMPLATE.format(activity=a, place=p, companion=c, when=w) for a, p, c, w in decoys]
    body = [outing, *decoy_sentences, *rng.sample(DISTRACTORS, k=rng.randint(2, 4))]
    rng.shuffle(body)
    after_outing = body.index(outing) + 1  # the verdict judges the outing: it comes after it
    body.insert(rng.randint(after_outing, len(body)), rng.choice(VERDICT_TEMPLATES).format(verdict=verdict))
    return Post(" ".join(body), activity, place, companion, verdict, when, tuple(decoys))


def make_posts(n: int, seed: int) -> list[Post]:
    rng = random.Random(seed)
    return [make_post(rng) for _ in range(n)]


def train_prompts(n: int) -> list[str]:
    return [p.prompt for p in make_posts(n, TRAIN_SEED)]


def eval_prompts(n: int) -> list[str]:
    return [p.prompt for p in make_posts(n, EVAL_SEED)]


def ideal_summary(post: Post) -> str:
    return f"{post.activity} in {post.place} with {post.companion} last {post.when} , {post.verdict} ."


def noisy_demonstration(post: Post, rng: random.Random, keep_fact: float = 0.5) -> str:
    """A human-like but imperfect summary: facts dropped, a decoy's fact taken instead, fillers added."""
    decoy = rng.choice(post.decoys) if post.decoys else post.facts[:3] + post.facts[4:]

    def fact(index: int, true_value: str) -> str:
        return decoy[index] if rng.random() < 0.25 else true_value

    parts = []
    if rng.random() < keep_fact:
        parts.append(fact(0, post.activity))
    if rng.random() < keep_fact:
        parts.append(f"in {fact(1, post.place)}")
    if rng.random() < keep_fact:
        parts.append(f"with {fact(2, post.companion)}")
    if rng.random() < keep_fact:
        parts.append(f"last {fact(3, post.when)}")
    if rng.random() < keep_fact:
        parts.append(f", {post.verdict}" if parts else post.verdict)
    return with_fillers(parts, rng)


def reward(post: Post, summary: str) -> float:
    """Graded ground-truth reward of ``summary`` for ``post`` (see the module docstring)."""
    words = summary.split()
    present = set(words)
    coverage = sum(fact in present for fact in post.facts) / len(post.facts)
    if coverage == 0:
        return NO_FACT_REWARD
    hallucinations = len({w for w in words if w in FACT_VOCABULARY} - set(post.facts))
    excess = max(0, len(words) - IDEAL_WORDS)
    return coverage**2 - HALLUCINATION_PENALTY * hallucinations - VERBOSITY_PENALTY * excess


def post_from_prompt(prompt: str) -> Post:
    """Recover a post's key facts from its prompt text: the decoy sentences (marked by their wording)
    are set aside, and the rest names exactly one of each kind of fact."""
    text = prompt.removeprefix(PROMPT_PREFIX).removesuffix(PROMPT_SUFFIX).strip()
    sentences = [s.strip() for s in text.split(" .") if s.strip()]
    decoys, kept = [], []
    for sentence in sentences:
        (decoys if DECOY_MARK in sentence else kept).append(sentence.split())
    words = [w for sentence in kept for w in sentence]

    def first_of(vocabulary: tuple[str, ...], among: list[str]) -> str:
        return next((w for w in among if w in vocabulary), "")

    decoy_facts = tuple(tuple(first_of(v, d) for v in (ACTIVITIES, PLACES, COMPANIONS, WHEN)) for d in decoys)
    return Post(text, first_of(ACTIVITIES, words), first_of(PLACES, words), first_of(COMPANIONS, words),
                first_of(VERDICTS, words), first_of(WHEN, words), decoy_facts)


def prompt_reward(prompt: str, summary: str) -> float:
    """The ground-truth reward as a function of (prompt text, response text)."""
    return reward(post_from_prompt(prompt), summary)


def builtin_preference_data(prompts: list[str], seed: int = 0) -> dict[str, tuple[str, str]]:
    """Two noisy human-like summaries per post, the better one (by the ground-truth reward) as chosen."""
    return preference_pairs(prompts, seed, post_from_prompt, noisy_demonstration, reward)


TASK = Task(
    name="tldr-hard", train_prompts=train_prompts, eval_prompts=eval_prompts, prompt_reward=prompt_reward,
    preference_data=builtin_preference_data,
    demonstrations=Demonstrations(make_post, make_posts, noisy_demonstration, ideal_summary, FILLERS),
)
