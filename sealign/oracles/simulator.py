"""A Bradley-Terry oracle over a scalar reward: the simulated human of paper 003 sec. 3.2.

P(a > b) = sigmoid((r(x, a) - r(x, b)) / temperature); the answer is sampled from that
probability with a seeded generator, or is the likelier side when ``deterministic``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sealign.oracles.base import Verdict, winner_from_prob

RewardFn = Callable[[str, str], float]


def bradley_terry_prob(reward_a: float, reward_b: float, temperature: float) -> float:
    z = (reward_a - reward_b) / temperature
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


class BradleyTerrySimulator:
    def __init__(self, reward_fn: RewardFn, temperature: float = 0.1, deterministic: bool = False,
                 seed: int = 0, name: str = "bt-simulator"):
        self.reward_fn = reward_fn
        self.temperature = temperature
        self.deterministic = deterministic
        self.rng = np.random.default_rng(seed)
        self.name = name

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str]) -> list[Verdict]:
        verdicts = []
        for prompt, a, b in zip(prompts, responses_a, responses_b, strict=True):
            prob_a = bradley_terry_prob(self.reward_fn(prompt, a), self.reward_fn(prompt, b), self.temperature)
            if self.deterministic:
                winner = winner_from_prob(prob_a)
            else:
                winner = "a" if self.rng.random() < prob_a else "b"
            verdicts.append(Verdict(winner=winner, prob_a=prob_a))
        return verdicts
