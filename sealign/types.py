"""The records that flow through the loop: prompts, candidates, comparisons, preference batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TokenIds = list[int]
Winner = Literal["a", "b", "tie"]


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str


@dataclass
class Candidate:
    """One sampled response to a prompt, as text and as the exact token ids that were sampled."""

    prompt: Prompt
    prompt_ids: TokenIds
    token_ids: TokenIds
    text: str


@dataclass
class Comparison:
    """One oracle answer: which of two responses to a prompt is better. One row of the feedback log.

    ``prob_a`` is the oracle's probability that ``a`` wins, when it has one; ``cost`` is in the
    oracle's own unit (queries, tokens, dollars or seconds), named by ``cost_unit``.
    """

    id: str
    run_id: str
    step: int
    prompt: Prompt
    a: Candidate
    b: Candidate
    winner: Winner
    prob_a: float | None
    oracle: str
    cost: float = 1.0
    cost_unit: str = "query"
    timestamp: float = 0.0
    source: str = "oracle"  # "oracle" for real answers; other values for synthetic labels

    @property
    def chosen(self) -> Candidate:
        return self.a if self.winner == "a" else self.b

    @property
    def rejected(self) -> Candidate:
        return self.b if self.winner == "a" else self.a


@dataclass
class PreferenceBatch:
    """Token ids of (prompt, chosen, rejected) triples, the learner's input. Ties are never here."""

    prompt_ids: list[TokenIds] = field(default_factory=list)
    chosen_ids: list[TokenIds] = field(default_factory=list)
    rejected_ids: list[TokenIds] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompt_ids)

    @classmethod
    def from_comparisons(cls, comparisons: list[Comparison]) -> PreferenceBatch:
        batch = cls()
        for c in comparisons:
            if c.winner == "tie":
                continue
            batch.prompt_ids.append(c.a.prompt_ids)
            batch.chosen_ids.append(c.chosen.token_ids)
            batch.rejected_ids.append(c.rejected.token_ids)
        return batch

    def slice(self, start: int, stop: int) -> PreferenceBatch:
        return PreferenceBatch(
            self.prompt_ids[start:stop], self.chosen_ids[start:stop], self.rejected_ids[start:stop]
        )
