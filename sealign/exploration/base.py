"""The Explorer protocol: given M candidates per prompt, which pair is worth an oracle query."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from sealign.types import Candidate, Comparison

Pair = tuple[int, int]


class Explorer(Protocol):
    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[Pair | None]:
        """For each prompt's candidates, the indices (i, j), i != j, of the pair to query.

        ``None`` skips a prompt (no query is spent on it); a list of pairs asks several questions
        about it (SELM ranks a triple with three).
        """
        ...

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        """Learn from newly logged oracle answers (e.g. refit an epistemic reward model); metrics."""
        ...
