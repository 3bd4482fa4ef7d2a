"""The Oracle protocol: whoever answers "which of these two responses is better?"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sealign.records.types import Winner


@dataclass(frozen=True)
class Verdict:
    """One answer. ``prob_a`` is P(a beats b) when the oracle has it; cost is in ``cost_unit``.

    ``winner=None`` means the oracle could not answer (a judge that timed out or replied
    nonsense, a rater who never answered): the loop counts such a query as spent but never
    records it as a preference. ``reason`` says why, for metrics and logs.
    """

    winner: Winner | None
    prob_a: float | None = None
    cost: float = 1.0
    cost_unit: str = "query"
    reason: str = ""

    @property
    def answered(self) -> bool:
        return self.winner is not None

    @classmethod
    def abstain(cls, reason: str, cost: float = 0.0, cost_unit: str = "query") -> Verdict:
        """No answer, with what asking still cost (a paid reply that could not be parsed costs)."""
        return cls(winner=None, prob_a=None, cost=cost, cost_unit=cost_unit, reason=reason)


class Oracle(Protocol):
    name: str

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        """One verdict per (prompt, a, b) triple, in order; ``Verdict.abstain`` where there is no answer.

        ``keys`` names each question's occasion (the loop passes "step:row"): an oracle that samples
        its answer draws afresh for the same question asked on another occasion, and the same answer
        for the same occasion (a resumed or sharded run). Oracles that do not sample ignore it.
        """
        ...


def winner_from_prob(prob_a: float) -> Winner:
    return "a" if prob_a > 0.5 else "b" if prob_a < 0.5 else "tie"


def check_lengths(prompts: list[str], responses_a: list[str], responses_b: list[str]) -> None:
    """Refuse mismatched inputs up front: a silent zip would pair the wrong texts."""
    if not len(prompts) == len(responses_a) == len(responses_b):
        raise ValueError(
            f"compare() needs equally long lists (got {len(prompts)} prompts, "
            f"{len(responses_a)} responses a, {len(responses_b)} responses b)"
        )
