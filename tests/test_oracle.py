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
    verdicts = oracle.compare(["x"] * n, ["abcdefghij"] * n, [""] * n)  # r_a - r_b = 1
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
