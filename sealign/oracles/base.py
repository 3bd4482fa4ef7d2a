"""The Oracle protocol: whoever answers "which of these two responses is better?"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sealign.types import Winner


@dataclass(frozen=True)
class Verdict:
    """One answer. ``prob_a`` is P(a beats b) when the oracle has it; cost is in ``cost_unit``."""

    winner: Winner
    prob_a: float | None = None
    cost: float = 1.0
    cost_unit: str = "query"


class Oracle(Protocol):
    name: str

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str]) -> list[Verdict]:
        """One verdict per (prompt, a, b) triple, in order."""
        ...


def winner_from_prob(prob_a: float) -> Winner:
    return "a" if prob_a > 0.5 else "b" if prob_a < 0.5 else "tie"
