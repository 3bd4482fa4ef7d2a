"""A spending cap around any oracle: once its answers have cost ``max_cost``, it stops asking.

The loop's ``--budget`` counts queries; this counts what they cost in the oracle's own unit
(dollars of a priced judge, tokens, rater seconds), skipped answers included since they may
have been paid. The cap is checked before each batch, so the last batch may overshoot it.
``exhausted`` tells the loop to stop early instead of generating candidates nobody will judge.
"""

from __future__ import annotations

from sealign.oracles.base import Oracle, Verdict


class CostBudget:
    def __init__(self, oracle: Oracle, max_cost: float):
        self.oracle = oracle
        self.max_cost = max_cost
        self.spent = 0.0
        self.name = oracle.name

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.max_cost

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        if self.exhausted:
            return [Verdict.abstain(f"oracle budget of {self.max_cost:g} spent") for _ in prompts]
        verdicts = self.oracle.compare(prompts, responses_a, responses_b, keys=keys)
        self.spent += sum(v.cost for v in verdicts)
        return verdicts

    def __getattr__(self, attr):
        # Everything else (stats, reward_fn, ...) is the wrapped oracle's.
        if attr == "oracle":  # not yet set (copy, unpickling): avoid endless recursion
            raise AttributeError(attr)
        return getattr(self.oracle, attr)
