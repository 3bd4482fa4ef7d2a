"""The constraints task: real-text instructions with verifiable constraints (IFEval-like).

Each prompt is a short writing request on an everyday topic followed by 1-3 constraints (a word
limit, a word to include or avoid, a number of bullets or sentences, all lowercase or capitals, a
closing phrase, a JSON shape, no commas; see ``constraint_checks.KINDS``). The prompts are made
here, deterministically, from topic lists x request templates x constraint templates: 512 of them,
the first 384 for training and the last 128 held out for evaluation, the same on every machine.

    reward(prompt, response) = credit(prompt, response) * content(prompt, response)
    credit  = mean over the prompt's constraints of 1 when met, else MAX_PARTIAL (0.5) * closeness
    content = on_topic * length * novelty * variety, each in [0, 1]:
        on_topic = 1 when the answer mentions the topic it was asked about (a word of the request,
                   or a related word of ``TOPIC_WORDS``), else 0
        length   = distinct words / MIN_DISTINCT_WORDS, at most 1
        novelty  = 2 * (share of the answer's word trigrams not copied from the prompt), at most 1
                   (the words the constraints quote, a closing phrase or a required word, are not copies)
        variety  = 1 up to REPEAT_TOLERANCE (0.1) of the answer's word trigrams repeated within it,
                   falling linearly to 0 at half of them (``repetition.repeated_share``)

Meeting one more constraint always pays more than coming closer on the others, and an on-topic answer
of a few words of its own that meets all of them scores 1. Without the content term the constraints
rewarded saying nothing: the constant answer "ok" meets every word limit, lowercase, forbidden-word
and no-commas constraint and scored 0.482 against SmolLM2's 0.408 (bench/results/real_model.md). With
it, an empty, constant, off-topic or prompt-echoing answer scores 0. Without ``variety`` it rewarded
looping: at 384 queries a run answered "Include the word simple" with "simple simple simple simple..."
and a bullet constraint with "1. Big 2. Vacuum 3. Big 4. Vacuum ..." (bench/results/real_model.md).
The partial credit is there because a strict fraction makes most pairs of one small model's samples
tie (they meet the same constraints), and ties teach a preference learner nothing. The strict reading
is recorded beside it (``EVAL_SCORES``: the share of constraints met by answers with content, overall
and per kind, and the content term itself).

The constraints and the topic are read back from the prompt text, so the reward is a plain function
of (prompt, response): the ``rule`` oracle and the Bradley-Terry simulator use it as they use any
``--reward-fn``. A prompt that states no constraint cannot be judged (the reward is None).
"""

from __future__ import annotations

import random
from functools import cache

from sealign.tasks.base import Task
from sealign.tasks.constraint_checks import (
    KINDS,
    Constraint,
    conflicts,
    fraction_met,
    graded_credit,
    parse_constraints,
    quoted_values,
    request_text,
    words,
)
from sealign.tasks.repetition import repeated_share

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


# Words an answer about each topic is likely to use besides the topic's own (matched whole, as written or
# with a plural -s / -es): an answer on topic mentions at least one of them or a word of the request.
TOPIC_WORDS = {
    "drinking coffee": "coffee caffeine espresso latte cappuccino brew mug cafe barista roast bean cups"
        " morning drink drinks aroma",
    "public libraries": "library libraries librarian book books reading read borrow novel shelf shelves"
        " librarians reader readers stories study",
    "learning to swim": "swim swimming swimmer pool water stroke lesson float lifeguard swam lake sea beach"
        " goggles dive",
    "city cycling": "cycling cycle bike biking bicycle ride riding lane traffic helmet cyclist bikes cyclists"
        " street streets commute pedal",
    "houseplants": "plant plants houseplant leaf leaves pot soil water sunlight green pots flower flowers"
        " indoor window",
    "rainy days": "rain rainy raining umbrella storm wet puddle cloud drizzle rains storms umbrellas clouds"
        " weather thunder",
    "moving to a new town": "move moving moved town neighbor neighbour home house neighborhood neighbors"
        " neighbours unpack boxes streets settle",
    "board games": "game games board dice player players chess card cards play playing monopoly scrabble turn win",
    "baking bread": "bread bake baking baked dough flour yeast loaf oven knead bakes baker loaves crust sourdough",
    "train travel": "train trains travel travelling traveling rail railway station journey trip travels"
        " platform ticket tickets carriage seat",
    "volunteering": "volunteer volunteers volunteering volunteered community charity donate shelter donation nonprofit",
    "a first job": "job work working boss colleague colleagues office career salary shift interview employer"
        " manager coworker coworkers paycheck hired",
    "learning a language": "language languages learn learning word words grammar vocabulary speak speaking"
        " fluent spanish french english german italian japanese chinese fluency lessons",
    "camping": "camp camping tent campfire fire outdoors hike hiking nature sleeping campsite tents campsites"
        " hikes trail forest woods outdoor",
    "saving money": "money save saving savings budget spend spending bank dollar dollars cash saved budgets"
        " expenses bills income invest",
    "street food": "food street vendor vendors stall taco eat eating snack cart dish dishes stalls market taste tasty",
    "morning routines": "morning routine routines wake breakfast habit habits sunrise alarm mornings coffee"
        " shower stretch wakeup",
    "museums": "museum museums art exhibit exhibits history gallery collection artwork artworks paintings"
        " painting galleries exhibition sculpture",
    "keeping a journal": "journal journaling diary write writing notebook page pages thoughts journals"
        " diaries entries entry pen",
    "remote work": "remote work working home office team meeting meetings colleague commute laptop calls zoom"
        " colleagues remotely",
    "dogs": "dog dogs puppy pet pets walk bark leash puppies barking paws tail fetch",
    "recycling": "recycle recycling recycled plastic waste bin paper glass environment trash recyclable cans"
        " bottles compost bins",
    "night skies": "night sky skies star stars moon planet dark telescope starry constellation constellations"
        " galaxy moonlight",
    "running a marathon": "run running runner marathon race mile miles training finish runs runners races"
        " marathons pace",
    "cooking for friends": "cook cooking cooked meal dinner recipe food kitchen guests dish ingredients"
        " delicious bake cake cookies cookie pasta soup feast taste",
    "old photographs": "photo photos photograph photographs picture pictures memory memories album camera"
        " photography snapshot snapshots frame frames",
    "winter sports": "winter sport sports ski skiing snow skate skating snowboard ice skis snowboarding"
        " hockey sled sledding slopes",
    "a small garden": "garden gardening plant plants flower flowers soil seed seeds vegetable herb herbs"
        " gardens gardener bloom blooms tomatoes roses",
    "podcasts": "podcast podcasts episode episodes listen listening host show audio listeners hosts interview"
        " interviews",
    "bicycles": "bicycle bicycles bike bikes ride riding cycle cycling wheel pedal pedals tires wheels rides",
    "handwritten letters": "letter letters handwritten write writing pen paper mail note envelope stamp"
        " stamps handwriting postcard",
    "the ocean": "ocean sea wave waves beach water shore fish oceans seas tide tides sand surf whale",
    "music lessons": "music lesson lessons teacher instrument piano guitar practice play song musician violin"
        " band sound melody notes sing singing concert drums instruments",
    "a long flight": "flight fly flying plane airplane airport seat hours travel trip flights planes pilot"
        " jet airline passengers",
    "farmers markets": "farmer farmers market markets produce vegetable vegetables fruit local stall fresh"
        " farms farm stalls organic",
    "sleep": "sleep sleeping bed rest nap tired dream night asleep bedtime dreams insomnia pillow rested",
}
MIN_DISTINCT_WORDS = 5
REPEAT_TOLERANCE = 0.1
"""An answer needs this many different words to have room for content (fewer: proportionally less)."""
TEMPLATE_WORDS = ("write short note about explain friend why you care give some advice describe someone who has never "
                  "tried it brief review tell tiny story to the a an of for")
GENERIC_WORDS = "new first long small old day days learning keeping drinking public city friends"
"""The topics' words that say nothing of a topic on their own ("a first job", "a long flight")."""
REQUEST_WORDS = frozenset(TEMPLATE_WORDS.split()) | frozenset(GENERIC_WORDS.split())
"""The request templates' own words and the topics' generic ones: not what an answer is about."""


def topic_words(prompt: str) -> set[str]:
    """The words that show an answer is about what the prompt asked: the request's own words (its
    template's left out), and the related words of its topic when it is one of ``TOPICS``."""
    request = request_text(prompt)
    found = {w.lower() for w in words(request)} - REQUEST_WORDS
    for topic, related in TOPIC_WORDS.items():
        if topic in request:
            found |= set(related.split())
    return found


def on_topic(prompt: str, response: str) -> bool:
    wanted = topic_words(prompt)
    said = {w.lower() for w in words(response)}
    return any(w in wanted or w.removesuffix("s") in wanted or w.removesuffix("es") in wanted for w in said)


def copied_share(prompt: str, response: str) -> float:
    """The share of the answer's word trigrams (single words when it has fewer than 3) found in the prompt;
    the words the constraints quote are dropped from both first (saying them is asked for)."""
    for quoted in quoted_values(prompt):
        prompt, response = prompt.replace(quoted, " "), response.replace(quoted, " ")
    said = [w.lower() for w in words(response)]
    if not said:
        return 0.0
    n = 3 if len(said) >= 3 else 1
    source = [w.lower() for w in words(prompt)]
    in_prompt = {tuple(source[i:i + n]) for i in range(len(source) - n + 1)}
    grams = [tuple(said[i:i + n]) for i in range(len(said) - n + 1)]
    return sum(g in in_prompt for g in grams) / len(grams)


def content(prompt: str, response: str) -> float:
    """on_topic * length * novelty * variety in [0, 1] (the module docstring): 1 for an on-topic answer of
    at least MIN_DISTINCT_WORDS different words, at least half of them not copied from the prompt, that
    does not repeat itself."""
    if not on_topic(prompt, response):
        return 0.0
    length = min(1.0, len({w.lower() for w in words(response)}) / MIN_DISTINCT_WORDS)
    novelty = min(1.0, 2.0 * (1.0 - copied_share(prompt, response)))
    return length * novelty * variety(response)


def variety(response: str) -> float:
    """1 while at most REPEAT_TOLERANCE of the answer's word trigrams repeat earlier ones, then linearly
    down to 0 when half of them do."""
    excess = repeated_share(response) - REPEAT_TOLERANCE
    return min(1.0, max(0.0, 1.0 - excess / (0.5 - REPEAT_TOLERANCE)))


def prompt_reward(prompt: str, response: str) -> float | None:
    """The constraints' graded credit times the answer's content (see the module docstring); None when the
    prompt states no constraint."""
    credit = graded_credit(prompt, response)
    return None if credit is None else credit * content(prompt, response)


def constraints_met(prompt: str, response: str) -> float | None:
    """The strict reading: the share of the prompt's constraints met, by an answer with full content (else 0)."""
    met = fraction_met(prompt, response)
    return None if met is None else met * (content(prompt, response) == 1.0)


def kind_met(kind: str):
    """Per kind: 1 when the prompt's constraint of this kind is met by an answer with full content, else 0;
    None for a prompt without one (left out of the mean)."""
    def score(prompt: str, response: str) -> float | None:
        found = [c for c in parse_constraints(prompt) if c.kind.name == kind]
        if not found:
            return None
        return float(all(c.check(response) for c in found) and content(prompt, response) == 1.0)

    score.__name__ = f"met_{kind.replace('-', '_')}"
    return score


# What the evaluation records beside the graded reward (eval/NAME, and eval/baseline_NAME for the starting
# model): how many constraints the answers really meet, per kind too, and how much content they have.
EVAL_SCORES = {"constraints_met": constraints_met, "content": content,
               **{f"constraints/{kind}": kind_met(kind) for kind in KINDS}}

TASK = Task(name="constraints", train_prompts=train_prompts, eval_prompts=eval_prompts, prompt_reward=prompt_reward,
            eval_scores=EVAL_SCORES)
