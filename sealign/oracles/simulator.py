"""A Bradley-Terry oracle over a scalar reward: the simulated human of Asghari et al. 2026 sec. 3.2.

P(a > b) = sigmoid((r(x, a) - r(x, b)) / temperature); the answer is sampled from that
probability, or is the likelier side when ``deterministic``.

The sample is a deterministic function of ``(seed, occasion, prompt, response_a, response_b)``:
the uniform draw compared with P(a > b) is a hash of them, not the next number of a generator.
The occasion is the key the loop passes for each query ("step:row"), so a question asked again at
another step is a fresh draw, as a simulated human's choice is (Asghari et al. 2026 sec. 3.2): label noise
averages out over repeats. And the answer never depends on which questions came before it or in
which process they were asked: the Ray runtime can shard a batch over K oracle actors and still log
exactly the answers of the one-process run, and a resumed run gets the answers the crashed one would
have got. ``consistent=True`` (``--oracle-consistent``) leaves the occasion out: the very same
question always gets the same answer, a rater who remembers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

from sealign.errors import UserError
from sealign.oracles.base import Verdict, winner_from_prob

RewardFn = Callable[[str, str], float]


def bradley_terry_prob(reward_a: float, reward_b: float, temperature: float) -> float:
    z = (reward_a - reward_b) / temperature
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def reward_problem(reward_a: float, reward_b: float, source: str) -> str:
    """Why two rewards cannot give a Bradley-Terry answer ('' when they can).

    Every comparison with NaN is False, so a NaN reward would silently become "b wins", and
    inf - inf is NaN. A reward that is not a finite number is a fault of the reward, not an
    opinion: the query is skipped (``Verdict.abstain``), counted, and never logged as a preference.
    """
    bad = [f"{side}={value}" for side, value in (("a", reward_a), ("b", reward_b)) if not math.isfinite(value)]
    return f"{source} gave a non-finite reward ({', '.join(bad)})" if bad else ""


def question_uniform(seed: int, prompt: str, response_a: str, response_b: str, occasion: str = "") -> float:
    """A uniform number in [0, 1) fixed by the question, its occasion and the seed (64 bits of BLAKE2b)."""
    # Length-prefixed fields: ("ab", "c") and ("a", "bc") must not hash alike.
    fields = (str(seed), prompt, response_a, response_b) + ((occasion,) if occasion else ())
    payload = "".join(f"{len(s)}:{s}" for s in fields)
    digest = hashlib.blake2b(payload.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class BradleyTerrySimulator:
    def __init__(self, reward_fn: RewardFn, temperature: float = 0.1, deterministic: bool = False,
                 seed: int = 0, name: str = "bt-simulator", consistent: bool = False):
        self.reward_fn = reward_fn
        self.temperature = temperature
        self.deterministic = deterministic
        self.seed = seed
        self.name = name
        self.consistent = consistent

    def reward(self, prompt: str, response: str) -> float:
        """The reward as a float; None (the function cannot score this response) reads as NaN: skipped."""
        value = self.reward_fn(prompt, response)
        if value is None:
            return math.nan
        try:
            return float(value)
        except (TypeError, ValueError) as err:  # a bug in the function, not a fault of one answer
            name = getattr(self.reward_fn, "__name__", repr(self.reward_fn))
            raise UserError(f"reward_fn {name!r} must return a number or None (got {type(value).__name__})") from err

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        verdicts = []
        occasions = [""] * len(prompts) if keys is None or self.consistent else keys
        for prompt, a, b, occasion in zip(prompts, responses_a, responses_b, occasions, strict=True):
            reward_a, reward_b = self.reward(prompt, a), self.reward(prompt, b)
            if problem := reward_problem(reward_a, reward_b, "reward_fn"):
                verdicts.append(Verdict.abstain(problem))
                continue
            prob_a = bradley_terry_prob(reward_a, reward_b, self.temperature)
            if self.deterministic:
                winner = winner_from_prob(prob_a)
            else:
                winner = "a" if question_uniform(self.seed, prompt, a, b, occasion) < prob_a else "b"
            verdicts.append(Verdict(winner=winner, prob_a=prob_a))
        return verdicts
