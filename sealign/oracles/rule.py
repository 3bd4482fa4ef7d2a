"""A rule oracle: a verifier function scores each response, the higher score wins, equal scores tie.

The verifier is any ``f(prompt, response) -> float | bool | None`` (an exact-match checker of a
math answer, a unit test runner, a regex): given directly as a Python callable or by import
path ``'package.module:function'`` (``--reward-fn``). ``True``/``False`` count as 1/0; ``None``
means "cannot judge this response", and a pair with such a response gets no answer rather than
a made-up one. Rules are free and exact, so the answer is never sampled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from sealign.errors import UserError
from sealign.oracles.base import Verdict, check_lengths

if TYPE_CHECKING:
    from sealign.oracles.settings import OracleSettings

Verifier = Callable[[str, str], "float | bool | None"]


class RuleOracle:
    def __init__(self, verifier: Verifier | str, name: str = "rule"):
        if isinstance(verifier, str):
            from sealign.oracles.factories import load_reward_fn

            verifier = load_reward_fn(verifier)
        if not callable(verifier):
            raise UserError(f"rule verifier must be callable (got {type(verifier).__name__})")
        self.verifier = verifier
        self.name = name

    def score(self, prompt: str, response: str) -> float | None:
        value = self.verifier(prompt, response)
        if value is None:
            return None
        if isinstance(value, bool):
            return float(value)
        try:
            score = float(value)
        except (TypeError, ValueError) as err:
            raise UserError(f"rule verifier {getattr(self.verifier, '__name__', self.verifier)!r} must return "
                            f"a number, a bool or None (got {type(value).__name__})") from err
        return None if math.isnan(score) else score

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        check_lengths(prompts, responses_a, responses_b)
        verdicts = []
        for prompt, a, b in zip(prompts, responses_a, responses_b):
            score_a, score_b = self.score(prompt, a), self.score(prompt, b)
            if score_a is None or score_b is None:
                verdicts.append(Verdict.abstain("rule could not score a response"))
            elif score_a == score_b:
                verdicts.append(Verdict("tie", 0.5))
            else:
                verdicts.append(Verdict("a", 1.0) if score_a > score_b else Verdict("b", 0.0))
        return verdicts


def build(config: OracleSettings, seed_offset: int = 0) -> RuleOracle:
    from sealign.oracles.factories import load_reward_fn

    return RuleOracle(load_reward_fn(config.reward_fn, config.task))
