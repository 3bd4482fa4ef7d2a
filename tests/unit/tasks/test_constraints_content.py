"""The constraints task rewards doing what was asked: an answer with nothing to say about the prompt's
topic (empty, constant, off-topic, the prompt echoed back) earns nothing, whatever constraints it meets.

Before the content term the constant answer "ok" scored 0.482 on the held-out prompts against SmolLM2's
0.408 (it meets every word limit, lowercase, forbidden-word and no-commas constraint), the prompt echoed
back 0.504, "I don't know." 0.442. The upper reference here is written by
hand: three on-topic sentences per topic, shaped to each prompt's constraints by ``good_answer``.
"""

import statistics
from collections import defaultdict

import pytest

from sealign.tasks import constraints, get_task
from sealign.tasks.constraint_checks import KINDS, graded_credit, parse_constraints

# Three sentences per topic, written without commas and without any word a prompt may forbid
# (very, really, the, and, good, is), so one set serves every prompt.
WRITTEN = {
    "drinking coffee": ["Coffee wakes me up before work.", "A warm mug feels calm on cold mornings.",
                        "Try one cup after lunch at most."],
    "public libraries": ["Libraries lend books to anyone for free.", "I read quietly at a corner desk.",
                         "Librarians help me find old novels."],
    "learning to swim": ["Start in shallow water with a teacher.", "Float on your back to feel safe.",
                         "Practice each stroke slowly at first."],
    "city cycling": ["A bike gets me across town fast.", "Wear a helmet on busy streets.",
                     "Bike lanes make riding safer."],
    "houseplants": ["My plants need light near a window.", "Water them once a week.",
                    "Green leaves make a room feel alive."],
    "rainy days": ["Rain taps softly on my window.", "I stay inside with tea on rainy afternoons.",
                   "An umbrella keeps my shoes dry."],
    "moving to a new town": ["Moving to a new town felt strange at first.", "I met my neighbors at a bakery.",
                             "Walking each street helped me learn my home."],
    "board games": ["Board games bring friends around one table.", "Dice rolls keep every game exciting.",
                    "Chess teaches patience to young players."],
    "baking bread": ["Bread needs flour water salt plus yeast.", "Knead dough until it feels smooth.",
                     "A warm loaf fills my kitchen with smell."],
    "train travel": ["Trains let me read while I travel.", "A rail trip shows towns from my window.",
                     "Book seats early for long journeys."],
    "volunteering": ["Volunteering connects me to my community.", "I help at a food bank on weekends.",
                     "Charity work teaches gratitude."],
    "a first job": ["My first job taught me to arrive early.", "A kind boss made work less scary.",
                    "Ask colleagues questions when unsure."],
    "learning a language": ["Learning a language opens new doors.", "Speak with native speakers often.",
                            "New words stick when I use them daily."],
    "camping": ["Camping under pine trees feels peaceful.", "Pack a warm tent plus dry socks.",
                "A campfire keeps everyone warm at night."],
    "saving money": ["Saving money starts with a simple budget.", "Put aside cash every payday.",
                     "Skip small daily spending to save more."],
    "street food": ["Street food vendors cook fast tasty dishes.", "Try a taco from a busy stall.",
                    "Eat where locals line up."],
    "morning routines": ["My morning routine starts with water.", "I stretch before breakfast.",
                         "A steady routine makes mornings calm."],
    "museums": ["Museums keep history close to us.", "I love quiet art galleries on Sundays.",
                "Each exhibit tells a story."],
    "keeping a journal": ["I write in my journal every night.", "A journal holds thoughts I forget.",
                          "Write one page without judging it."],
    "remote work": ["Remote work saves me a long commute.", "I keep a quiet desk at home.",
                    "Video meetings keep my team close."],
    "dogs": ["Dogs greet me with wagging tails.", "A daily walk keeps my dog happy.",
             "Puppies learn fast with treats."],
    "recycling": ["Recycling keeps plastic out of oceans.", "Rinse glass jars before binning them.",
                  "Sort paper from cans at home."],
    "night skies": ["Stars shine bright far from city lights.", "I watch for meteors in August.",
                    "A clear sky shows planets too."],
    "running a marathon": ["Running a marathon takes months of training.", "Pace yourself in early miles.",
                           "Crossing that finish line felt amazing."],
    "cooking for friends": ["Cooking for friends makes dinner a party.", "I prepare a simple pasta dish.",
                            "Guests love helping in my kitchen."],
    "old photographs": ["Old photographs keep family memories alive.", "I found my grandmother's album.",
                        "Faded pictures tell quiet stories."],
    "winter sports": ["Skiing down snowy hills feels free.", "Skating on ice takes balance.",
                      "Dress warm for winter sports."],
    "a small garden": ["My small garden grows tomatoes plus herbs.", "Flowers bring bees every summer.",
                       "Water seeds early each morning."],
    "podcasts": ["Podcasts keep me company on walks.", "I listen to history episodes at night.",
                 "A great host makes hard topics fun."],
    "bicycles": ["My bicycle takes me everywhere in town.", "Check tires before each ride.",
                 "A bike needs oil on its chain."],
    "handwritten letters": ["Handwritten letters feel personal.", "I write to my aunt with a blue pen.",
                            "Paper mail makes someone smile."],
    "the ocean": ["Ocean waves calm my mind.", "I walk along a sandy beach at dawn.",
                  "Sea water feels cold in spring."],
    "music lessons": ["Music lessons taught me to read notes.", "My piano teacher was patient.",
                      "Practice a little every day."],
    "a long flight": ["A long flight needs a good book.", "Walk down aisles to stretch your legs.",
                      "Drink water during every hour of flying."],
    "farmers markets": ["Farmers markets sell fresh local produce.", "I buy apples from a farmer I know.",
                        "Market stalls open early on Saturdays."],
    "sleep": ["Sleep helps my body recover.", "Go to bed at a steady hour.",
              "A dark room makes resting easier."],
}
assert set(WRITTEN) == set(constraints.TOPICS)
DEGENERATE = {"ok": "ok", "yes": "yes", "Sure.": "Sure.", "empty": "",
              "off-topic": "Bananas are yellow and grow in bunches.", "I don't know": "I don't know."}
HELD_OUT = constraints.eval_prompts(128)


def topic_of(prompt: str) -> str:
    return next(topic for topic in constraints.TOPICS if topic in prompt)


def good_answer(prompt: str) -> str:
    """The topic's written sentences, shaped to the prompt's constraints as a careful writer would."""
    wanted = {c.kind.name: c.value for c in parse_constraints(prompt)}
    sentences = list(WRITTEN[topic_of(prompt)])
    if "required-word" in wanted:
        sentences[0] = f"{wanted['required-word'].capitalize()} {sentences[0][0].lower()}{sentences[0][1:]}"
    count = int(wanted.get("sentences", wanted.get("bullets", 2)))
    if "closing-phrase" in wanted and "sentences" in wanted:
        count -= 1  # the phrase is a sentence of its own
    if "min-words" in wanted and int(wanted["min-words"]) > 12:
        count = 3
    sentences = sentences[:count]
    while "max-words" in wanted and len(" ".join(sentences).split()) > int(wanted["max-words"]) and len(sentences) > 1:
        sentences.pop()
    if "json" in wanted:
        keys = [k.strip('"') for k in wanted["json"].split(" and ")]
        body = ", ".join(f'"{k}": "{s}"' for k, s in zip(keys, sentences * 2))
        return "{" + body + "}"
    text = "\n".join(f"- {s}" for s in sentences) if "bullets" in wanted else " ".join(sentences)
    if "closing-phrase" in wanted:
        text += " " + wanted["closing-phrase"]
    if "lowercase" in wanted:
        text = text.lower()
    if "uppercase" in wanted:
        text = text.upper()
    return text


def mean_reward_by_kind(answers: list[str]) -> dict[str, float]:
    by_kind = defaultdict(list)
    for prompt, answer in zip(HELD_OUT, answers):
        for constraint in parse_constraints(prompt):
            by_kind[constraint.kind.name].append(constraints.prompt_reward(prompt, answer))
    return {kind: statistics.fmean(rewards) for kind, rewards in by_kind.items()}


def test_the_written_answers_are_rewarded_for_every_kind_of_constraint():
    good = mean_reward_by_kind([good_answer(p) for p in HELD_OUT])
    assert set(good) == set(KINDS)  # every kind is held out
    assert min(good.values()) >= 0.8, good
    assert statistics.fmean(constraints.content(p, good_answer(p)) for p in HELD_OUT) == 1.0


# SmolLM2-135M's own answers (the `real` preset's starting model) score 0.16-0.66 per kind on the first
# 64 held-out prompts (bench/results/real_model.md); nothing without content may come near that. The
# threshold is 0.02 per kind: no degenerate answer earns a fiftieth of a met constraint on average.
THRESHOLD = 0.02


@pytest.mark.parametrize("name", [*DEGENERATE, "echo"])
def test_an_answer_without_content_earns_nothing_for_any_kind_of_constraint(name):
    answers = list(HELD_OUT) if name == "echo" else [DEGENERATE[name]] * len(HELD_OUT)
    before = statistics.fmean(graded_credit(p, a) for p, a in zip(HELD_OUT, answers))
    scores = mean_reward_by_kind(answers)
    good = mean_reward_by_kind([good_answer(p) for p in HELD_OUT])
    assert set(scores) == set(KINDS)
    for kind, score in scores.items():
        assert score <= THRESHOLD and score <= 0.05 * good[kind], (name, kind, score, good[kind])
    # what the constraints alone paid it (the reward before the content term): "ok" 0.48 on all 128
    assert before > 0.1 or name == "empty"


def test_brevity_is_paid_only_with_content():
    prompt = "Give some advice about sleep. Answer in at most 15 words. Do not use any commas."
    assert graded_credit(prompt, "ok") == 1.0  # the constraints alone: met
    assert constraints.prompt_reward(prompt, "ok") == 0.0
    assert constraints.prompt_reward(prompt, "Go to bed at a steady hour each night.") == 1.0
    # on topic but two words: a share of the credit, not all of it
    assert 0 < constraints.prompt_reward(prompt, "Sleep more.") < 0.5


def test_copying_the_prompt_is_no_content_but_saying_what_it_quotes_is_allowed():
    prompt = 'Write a short note about dogs. End your answer with the exact phrase "Thanks for reading."'
    assert constraints.content(prompt, prompt) == 0.0
    answer = "Dogs greet me at the door every evening. Thanks for reading."
    assert constraints.copied_share(prompt, answer) == 0.0
    assert constraints.prompt_reward(prompt, answer) == 1.0
    # restating the request before answering costs nothing while most of the answer is new
    assert constraints.content(prompt, "A short note about dogs: mine greets me at the door every evening.") == 1.0


def test_the_topic_is_read_from_the_request_and_a_hand_written_prompt_has_one_too():
    words = constraints.topic_words("Describe drinking coffee to someone. Use at least 8 words.")
    assert {"coffee", "espresso"} <= words
    assert "drinking" not in constraints.topic_words("Describe drinking coffee to someone.")
    assert constraints.topic_words('Write a poem about tea. Include the word "always".') == {"poem", "tea"}
    assert constraints.on_topic("Write a poem about tea.", "Green teas calm me down.")  # a plural


def test_the_evaluation_records_the_strict_share_per_kind_and_the_content():
    scores = get_task("constraints").eval_scores
    assert {"constraints_met", "content", *(f"constraints/{kind}" for kind in KINDS)} == set(scores)
    prompt = "Write a short note about dogs. Write everything in lowercase letters. Do not use any commas."
    assert scores["constraints/lowercase"](prompt, "dogs greet me at the door every evening.") == 1.0
    assert scores["constraints/lowercase"](prompt, "ok") == 0.0  # met, but says nothing
    assert scores["constraints/json"](prompt, "anything") is None  # not asked: left out of the mean
    assert scores["constraints_met"](prompt, "ok") == 0.0


def test_an_answer_that_loops_loses_its_content():
    from sealign.tasks.constraints import content, variety
    from sealign.tasks.repetition import repeated_share

    prompt = 'Write a short note about rainy days. Include the word "simple".'
    looping = ("Rainy days are simple simple simple simple simple simple. A simple day is lazy early morning. "
               "Simple days are simple simple small simple small small simple. A simple day is lazy early morning.")
    natural = "Rainy days are simple: stay inside, read a book, drink tea and listen to the rain on the window."
    assert repeated_share("a b c a b c") == pytest.approx(1 / 4)  # trigrams abc bca cab abc: one repeat
    assert repeated_share("1. Big 2. Vacuum 3. Big 4. Vacuum 5. Big") == pytest.approx(1 / 3)  # numbers are no words
    assert repeated_share("ok") == 0.0
    assert variety(natural) == 1.0 and content(prompt, natural) == 1.0
    assert variety(looping) == pytest.approx(1 - (repeated_share(looping) - 0.1) / 0.4)
    assert content(prompt, looping) < 0.7
    assert variety("big vacuum " * 10) == 0.0
