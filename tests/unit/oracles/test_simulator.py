import math

import pytest

from sealign.oracles.simulator import BradleyTerrySimulator, bradley_terry_prob


def length_reward(prompt: str, response: str) -> float:
    return len(response) / 10


def test_bradley_terry_probability():
    assert bradley_terry_prob(1.0, 0.0, 1.0) == pytest.approx(1 / (1 + math.exp(-1)))
    assert bradley_terry_prob(0.0, 0.3, 0.1) == pytest.approx(1 / (1 + math.exp(3)))
    assert bradley_terry_prob(500.0, 0.0, 1.0) == 1.0  # no overflow
    assert bradley_terry_prob(0.0, 500.0, 1.0) == pytest.approx(0.0)


def test_sampled_answers_follow_the_bradley_terry_probability():
    oracle = BradleyTerrySimulator(length_reward, temperature=1.0, seed=0)
    n = 4000
    # Distinct questions: an answer is a deterministic function of (seed, question), so the
    # statistics come from many questions, not from one question asked many times.
    verdicts = oracle.compare([f"x{i}" for i in range(n)], ["abcdefghij"] * n, [""] * n)  # r_a - r_b = 1
    p = 1 / (1 + math.exp(-1))
    freq = sum(v.winner == "a" for v in verdicts) / n
    assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert all(v.prob_a == pytest.approx(p) for v in verdicts)


def test_seeded_and_deterministic_modes():
    a = BradleyTerrySimulator(length_reward, temperature=1.0, seed=7).compare(["x"] * 50, ["ab"] * 50, ["abc"] * 50)
    b = BradleyTerrySimulator(length_reward, temperature=1.0, seed=7).compare(["x"] * 50, ["ab"] * 50, ["abc"] * 50)
    assert [v.winner for v in a] == [v.winner for v in b]
    det = BradleyTerrySimulator(length_reward, temperature=1.0, deterministic=True)
    assert [v.winner for v in det.compare(["x"] * 3, ["ab", "abc", "a"], ["abc", "ab", "b"])] == ["b", "a", "tie"]


def test_answers_do_not_depend_on_order_or_sharding():
    """What the Ray runtime (K oracle actors) and crash/resume rely on."""
    prompts, a, b = [f"p{i}" for i in range(40)], [f"a{i}" for i in range(40)], [f"b{i % 7}" for i in range(40)]
    whole = [v.winner for v in BradleyTerrySimulator(length_reward, 1.0, seed=3).compare(prompts, a, b)]
    shards = []
    for lo, hi in [(20, 40), (0, 20)]:  # other order, other oracle objects
        oracle = BradleyTerrySimulator(length_reward, 1.0, seed=3)
        shards = [v.winner for v in oracle.compare(prompts[lo:hi], a[lo:hi], b[lo:hi])] + shards
    assert shards == whole
    other_seed = [v.winner for v in BradleyTerrySimulator(length_reward, 1.0, seed=4).compare(prompts, a, b)]
    assert other_seed != whole


def test_the_simulated_rater_samples_afresh_for_a_repeated_question_and_remembers_when_asked_to():
    oracle = BradleyTerrySimulator(lambda p, r: {"x": 0.0, "y": 0.03}[r], temperature=0.1, seed=3)
    p_x = 1 / (1 + math.exp(0.3))  # P(x beats y) = 0.43
    keys = [f"{step}:0" for step in range(400)]
    winners = [v.winner for v in oracle.compare(["q"] * 400, ["x"] * 400, ["y"] * 400, keys=keys)]
    assert abs(winners.count("a") / 400 - p_x) < 0.08
    again = [v.winner for v in oracle.compare(["q"] * 400, ["x"] * 400, ["y"] * 400, keys=keys)]
    assert again == winners  # the same occasion (a resumed or sharded run): the same answer
    consistent = BradleyTerrySimulator(oracle.reward_fn, temperature=0.1, seed=3, consistent=True)
    assert len({v.winner for v in consistent.compare(["q"] * 50, ["x"] * 50, ["y"] * 50, keys=keys[:50])}) == 1
