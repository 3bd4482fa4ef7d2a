"""The built-in task: summarise short generated "posts" into their key facts.

Each post tells of an outing (an activity, a place, a companion) and how it felt (a verdict),
buried among distractor sentences. A good summary names those four facts, invents none, and is
short. The ground-truth reward is graded, the way a careful human rater would grade:

    r(post, summary) = coverage - 0.25 * hallucinations - 0.03 * max(0, words - 8)

where ``coverage`` is the fraction of the four key facts the summary names, ``hallucinations``
counts fact words (any activity/place/companion/verdict) that are not the post's own, and
``words`` is the summary's length in words (the ideal summary has 8). The reward lies in about
[-1, 1]; the ideal summary scores exactly 1.

Demonstrations for the SFT bootstrap are deliberately noisy (facts dropped, filler words added,
an occasional wrong place), so the SFT policy is decent but clearly improvable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sealign.tasks.base import Demonstrations, Task

ACTIVITIES = (
    "hiking", "cooking", "fishing", "skiing", "painting", "running", "dancing", "sailing",
    "camping", "climbing", "surfing", "cycling", "baking", "swimming", "gardening", "rowing",
)
PLACES = (
    "oslo", "paris", "lima", "cairo", "tokyo", "rome", "dublin", "quito",
    "hanoi", "berlin", "madrid", "nairobi", "seoul", "vienna", "lisbon", "boston",
)
COMPANIONS = (
    "sister", "brother", "dog", "boss", "uncle", "cousin", "neighbor", "roommate",
    "grandma", "partner", "coach", "friend",
)
VERDICTS = ("amazing", "awful", "relaxing", "exhausting", "boring", "wonderful", "stressful", "fun")
FACT_VOCABULARY = frozenset(ACTIVITIES + PLACES + COMPANIONS + VERDICTS)

WHEN = ("weekend", "week", "month", "summer", "friday", "sunday")
OUTING_TEMPLATES = (
    "last {when} i went {activity} in {place} with my {companion} .",
    "my {companion} and i went {activity} in {place} last {when} .",
    "i spent last {when} in {place} , {activity} with my {companion} .",
)
VERDICT_TEMPLATES = (
    "overall it was {verdict} .",
    "honestly the whole thing felt {verdict} .",
    "i would call it {verdict} .",
)
DISTRACTORS = (
    "my phone battery died twice .",
    "we got lost on the way back .",
    "the food was too expensive .",
    "i forgot my jacket at home .",
    "the train was late again .",
    "there were so many people .",
    "it rained for an hour .",
    "we met a nice old man .",
    "i took a lot of photos .",
    "the hotel was tiny .",
)
FILLERS = ("really", "basically", "i think", "you know", "so yeah", "kind of", "just", "actually")

IDEAL_WORDS = 8
HALLUCINATION_PENALTY = 0.25
VERBOSITY_PENALTY = 0.03
TRAIN_SEED = 1_000
EVAL_SEED = 2_000
PROMPT_PREFIX = "post :"
PROMPT_SUFFIX = "tl;dr :"


@dataclass(frozen=True)
class Post:
    """One generated post with its hidden key facts."""

    text: str
    activity: str
    place: str
    companion: str
    verdict: str

    @property
    def facts(self) -> tuple[str, str, str, str]:
        return (self.activity, self.place, self.companion, self.verdict)

    @property
    def prompt(self) -> str:
        return f"{PROMPT_PREFIX} {self.text} {PROMPT_SUFFIX}"


def make_post(rng: random.Random) -> Post:
    activity, place = rng.choice(ACTIVITIES), rng.choice(PLACES)
    companion, verdict = rng.choice(COMPANIONS), rng.choice(VERDICTS)
    outing = rng.choice(OUTING_TEMPLATES).format(
        when=rng.choice(WHEN), activity=activity, place=place, companion=companion
    )
    body = [outing, *rng.sample(DISTRACTORS, k=rng.randint(1, 3))]
    rng.shuffle(body)
    # The verdict comes after the outing it judges, anywhere after it.
    after_outing = body.index(outing) + 1
    verdict_sentence = rng.choice(VERDICT_TEMPLATES).format(verdict=verdict)
    body.insert(rng.randint(after_outing, len(body)), verdict_sentence)
    return Post(" ".join(body), activity, place, companion, verdict)


def make_posts(n: int, seed: int) -> list[Post]:
    rng = random.Random(seed)
    return [make_post(rng) for _ in range(n)]


def train_prompts(n: int) -> list[str]:
    return [p.prompt for p in make_posts(n, TRAIN_SEED)]


def eval_prompts(n: int) -> list[str]:
    return [p.prompt for p in make_posts(n, EVAL_SEED)]


def ideal_summary(post: Post) -> str:
    return f"{post.activity} in {post.place} with {post.companion} , {post.verdict} ."


def noisy_demonstration(post: Post, rng: random.Random, keep_fact: float = 0.5) -> str:
    """A human-like but imperfect summary: facts dropped, fillers added, sometimes a wrong place."""
    place = post.place
    if rng.random() < 0.15:
        place = rng.choice([p for p in PLACES if p != post.place])
    parts = []
    if rng.random() < keep_fact:
        parts.append(post.activity)
    if rng.random() < keep_fact:
        parts.append(f"in {place}")
    if rng.random() < keep_fact:
        parts.append(f"with {post.companion}")
    if rng.random() < keep_fact:
        parts.append(f", {post.verdict}" if parts else post.verdict)
    return with_fillers(parts, rng)


def with_fillers(parts: list[str], rng: random.Random) -> str:
    """A demonstration's facts (``parts``) with 0-3 filler words slipped in, as one sentence."""
    if not parts:
        parts.append("it was a day")
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        parts.insert(rng.randint(0, len(parts)), rng.choice(FILLERS))
    return " ".join(parts) + " ."


def reward(post: Post, summary: str) -> float:
    """Graded ground-truth reward of ``summary`` for ``post`` (see the module docstring)."""
    words = summary.split()
    present = set(words)
    coverage = sum(fact in present for fact in post.facts) / len(post.facts)
    hallucinations = len({w for w in words if w in FACT_VOCABULARY} - set(post.facts))
    excess = max(0, len(words) - IDEAL_WORDS)
    return coverage - HALLUCINATION_PENALTY * hallucinations - VERBOSITY_PENALTY * excess


def post_from_prompt(prompt: str) -> Post:
    """Recover a post's key facts from its prompt text (each post names exactly one of each)."""
    text = prompt.removeprefix(PROMPT_PREFIX).removesuffix(PROMPT_SUFFIX).strip()
    words = text.split()

    def first_of(vocabulary: tuple[str, ...]) -> str:
        return next((w for w in words if w in vocabulary), "")

    return Post(text, first_of(ACTIVITIES), first_of(PLACES), first_of(COMPANIONS), first_of(VERDICTS))


def prompt_reward(prompt: str, summary: str) -> float:
    """The ground-truth reward as a function of (prompt text, response text)."""
    return reward(post_from_prompt(prompt), summary)


def builtin_preference_data(prompts: list[str], seed: int = 0) -> dict[str, tuple[str, str]]:
    """The task's offline preference data: two noisy human-like summaries per post, the better one
    (by the ground-truth reward) as chosen; a shipped dataset, not oracle queries (SELM's y_w, y_l;
    --offline-data builtin; the built-in pairwise preference model's training pairs)."""
    return preference_pairs(prompts, seed, post_from_prompt, noisy_demonstration, reward)


def preference_pairs(prompts: list[str], seed: int, parse, demonstrate, score) -> dict[str, tuple[str, str]]:
    """Per prompt, two demonstrations ``demonstrate(post, rng)`` of ``post = parse(prompt)``, the one
    ``score(post, text)`` rates higher first: (chosen, rejected). Shared by the generated-post tasks."""
    rng = random.Random(seed)
    rows = {}
    for prompt in prompts:
        post = parse(prompt)
        one, two = (demonstrate(post, rng) for _ in range(2))
        rows[prompt] = (one, two) if score(post, one) >= score(post, two) else (two, one)
    return rows


TASK = Task(
    name="tldr", train_prompts=train_prompts, eval_prompts=eval_prompts, prompt_reward=prompt_reward,
    preference_data=builtin_preference_data,
    demonstrations=Demonstrations(make_post, make_posts, noisy_demonstration, ideal_summary, FILLERS),
)
