"""The constraints task: each checker on hand-written responses (met and not met), the prompts read
back, the fixed split, and the reward as the rule oracle and the Bradley-Terry simulator use it."""

import pytest

from sealign.config import RunConfig
from sealign.oracles import build_oracle
from sealign.tasks import constraints, get_task
from sealign.tasks.constraint_checks import (
    KINDS,
    MAX_PARTIAL,
    Constraint,
    conflicts,
    fraction_met,
    graded_credit,
    parse_constraints,
)

# kind, value, a response that meets it, one that does not
CASES = [
    ("max-words", "5", "Tea is calm and warm.", "Tea is calm and warm and green."),
    ("min-words", "6", "I like slow walks by the sea.", "Walks are nice."),
    ("required-word", "because", "I read because stories help. ", "I read for fun."),
    ("required-word", "today", "TODAY I baked bread.", "Yesterday I baked bread."),
    ("forbidden-word", "very", "It was pleasant.", "It was Very pleasant."),
    ("forbidden-word", "the", "A garden grows slowly.", "The garden grows slowly."),
    ("bullets", "3", "- one\n- two\n- three", "- one\n- two"),
    ("bullets", "2", "Tips:\n* rest\n* drink water", "rest, drink water"),
    ("sentences", "2", "Swimming is fun. Try it today!", "Swimming is fun."),
    ("sentences", "1", "Dogs are loyal friends", "Dogs are loyal. They play."),
    ("json", '"title" and "summary"', '{"title": "Tea", "summary": "A warm drink."}', '{"title": "Tea"}'),
    ("json", '"mood" and "reason"', '```json\n{"mood": "calm", "reason": "rain"}\n```', "mood: calm, reason: rain"),
    ("lowercase", "", "rainy days are cozy.", "Rainy days are cozy."),
    ("uppercase", "", "RAINY DAYS ARE COZY!", "RAINY days are cozy."),
    ("closing-phrase", "That is all.", "Bring water. That is all.", "That is all. Bring water."),
    ("no-commas", "", "Cycling is quick and cheap.", "Cycling is quick, cheap."),
]


@pytest.mark.parametrize("kind,value,good,bad", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_checker_passes_and_fails(kind, value, good, bad):
    constraint = Constraint(KINDS[kind], value)
    assert constraint.check(good), good
    assert not constraint.check(bad), bad


@pytest.mark.parametrize("kind,value,good,bad", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_met_constraint_earns_full_credit_and_a_miss_at_most_the_partial_cap(kind, value, good, bad):
    constraint = Constraint(KINDS[kind], value)
    assert constraint.credit(good) == 1.0
    assert 0.0 <= constraint.credit(bad) <= MAX_PARTIAL


# kind, value, an unmet response, its closeness worked by hand (credit = MAX_PARTIAL * closeness)
NEAR_MISSES = [
    ("max-words", "5", "Tea is calm and warm and green.", 5 / 7),
    ("min-words", "6", "Walks are nice.", 3 / 6),
    ("required-word", "simple", "Keep it simpler.", 1.0),  # inside another word
    ("required-word", "today", "Todays bread is warm.", 1.0),
    ("required-word", "because", "I read for fun.", 0.0),
    ("forbidden-word", "very", "It was very very nice.", 1 / 3),
    ("bullets", "3", "- one\n- two", 1 / 2),
    ("sentences", "3", "One. Two. Three. Four. Five.", 1 / 3),
    ("json", '"title" and "summary"', '{"title": "Tea"}', 0.75),
    ("json", '"title" and "summary"', '{"title": "Tea", ', 0.25),
    ("json", '"title" and "summary"', "title: Tea", 0.0),
    ("lowercase", "", "Rainy days are cozy.", 15 / 16),
    ("uppercase", "", "RAINY days", 5 / 9),
    ("closing-phrase", "That is all.", "That is all. Bring water.", 1.0),
    ("closing-phrase", "That is all.", "Bring water.", 0.0),
    ("no-commas", "", "Quick, cheap, fun.", 1 / 3),
]


@pytest.mark.parametrize("kind,value,response,closeness", NEAR_MISSES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(NEAR_MISSES)])
def test_partial_credit_of_a_near_miss_by_hand(kind, value, response, closeness):
    constraint = Constraint(KINDS[kind], value)
    assert not constraint.check(response)
    assert constraint.credit(response) == pytest.approx(MAX_PARTIAL * closeness)


def test_the_graded_reward_is_the_mean_credit_and_agrees_with_the_fraction_met_at_the_ends():
    prompt = ('Give some advice about sleep. Answer in at most 5 words. Include the word "always". '
              'End your answer with the exact phrase "Thanks for reading."')
    assert graded_credit(prompt, "Always rest. Thanks for reading.") == 1.0  # all met
    # over the limit by 2 (5/7), "always" missing, the phrase there: (0.5 * 5/7 + 0 + 1) / 3
    assert graded_credit(prompt, "Rest well, sleep long. Thanks for reading.") == pytest.approx((0.5 * 5 / 7 + 1) / 3)
    assert fraction_met(prompt, "Rest well, sleep long. Thanks for reading.") == pytest.approx(1 / 3)
    assert graded_credit("Write a poem about tea.", "Tea.") is None


def test_every_kind_is_covered_by_a_hand_written_case():
    assert {c[0] for c in CASES} == set(KINDS) == {c[0] for c in NEAR_MISSES}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_empty_response_meets_nothing_that_asks_for_text(kind):
    value = constraints.VALUES[kind][0]
    if kind in ("max-words",):
        assert not Constraint(KINDS[kind], value).check("")
    else:
        assert not Constraint(KINDS[kind], value).check("   ")


def test_constraints_are_read_back_from_the_prompt():
    prompt = ('Give some advice about sleep. Answer in at most 20 words. Include the word "always". '
              'End your answer with the exact phrase "Thanks for reading."')
    parsed = parse_constraints(prompt)
    assert [(c.kind.name, c.value) for c in parsed] == [
        ("max-words", "20"), ("required-word", "always"), ("closing-phrase", "Thanks for reading.")]
    assert fraction_met(prompt, "Always rest well. Thanks for reading.") == 1.0
    assert fraction_met(prompt, "Rest well. Thanks for reading.") == pytest.approx(2 / 3)
    assert fraction_met("Write a poem about tea.", "Tea.") is None  # no constraint: cannot judge


def test_prompts_are_fixed_distinct_and_split():
    prompts = constraints.all_prompts()
    assert len(prompts) == len(set(prompts)) == constraints.NUM_PROMPTS
    train, held_out = constraints.train_prompts(10_000), constraints.eval_prompts(10_000)
    assert len(train) == 384 and len(held_out) == 128 and not set(train) & set(held_out)
    assert constraints.eval_prompts(3) == held_out[:3]
    for prompt in prompts:
        parsed = parse_constraints(prompt)
        assert 1 <= len(parsed) <= 3, prompt
        assert not any(conflicts(parsed[:k], c) for k, c in enumerate(parsed)), prompt
    assert {c.kind.name for p in prompts for c in parse_constraints(p)} == set(KINDS)


def test_the_task_reward_drives_the_rule_oracle_and_the_simulator():
    assert get_task("constraints").prompt_reward is constraints.prompt_reward
    prompt = 'Write a short note about dogs. Write everything in lowercase letters. Do not use any commas.'
    good, half, bad = "dogs are great friends.", "Dogs are great friends.", "Dogs, friends."
    config = RunConfig(task="constraints", oracle_deterministic=True)
    rule = build_oracle("rule", config)
    assert [v.winner for v in rule.compare([prompt] * 3, [good, half, bad], [half, half, good])] == ["a", "tie", "b"]
    simulator = build_oracle("bt-simulator", config)
    assert simulator.compare([prompt], [good], [bad])[0].winner == "a"
    judge = build_oracle("ground-truth", config)
    assert judge.compare([prompt], [bad], [half])[0].winner == "b"
