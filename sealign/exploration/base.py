"""The explorer's contract: given M candidates per prompt, which pairs are worth an oracle query.

Every explorer has ``select`` and ``update`` (``Explorer``). A few have more powers, each a small
protocol below; the assembly (``sealign/run/components.py``) looks for them once, with ``powers_of``,
and the loop reads the answer from the assembled parts, never from the explorer itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from torch import Tensor

from sealign.records.types import Candidate, Comparison

Pair = tuple[int, int]
"""Indices (i, j), i != j, into one prompt's candidates: what the pure pair rules return."""


@dataclass(frozen=True)
class Query:
    """One question for the oracle: is ``a`` or ``b`` the better response to their prompt?"""

    a: Candidate
    b: Candidate


class Explorer(Protocol):
    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[list[Query]]:
        """One list of queries per prompt, in the prompts' order: empty skips the prompt (no query is
        spent on it), several ask several questions about it (SELM ranks a triple with three).

        ``candidates`` is read, never changed: a query may hold responses that are not among them
        (SELM's dataset responses).
        """
        ...

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        """Learn from newly logged oracle answers (e.g. refit an epistemic reward model); metrics."""
        ...


def queries_of(candidates: list[list[Candidate]], pairs: list[Pair | None]) -> list[list[Query]]:
    """The queries of index pairs (one pair or None per prompt): the shape every pair rule returns."""
    return [[Query(group[pair[0]], group[pair[1]])] if pair is not None else []
            for group, pair in zip(candidates, pairs)]


def index_pair(group: list[Candidate], query: Query) -> Pair:
    """Where ``query``'s two responses sit in ``group`` (by identity: two samples may share a text)."""
    def position(candidate: Candidate) -> int:
        return next(k for k, c in enumerate(group) if c is candidate)

    return position(query.a), position(query.b)


# ----------------------------------------------------------------------------- optional powers
class RewardModel(Protocol):
    """A learned reward over responses: what model labels, Best-of-N and the round selection use."""

    def score(self, candidates: list[Candidate]) -> Tensor:
        """``[N]``: the ranking reward of each candidate (an ensemble's mean, less any length penalty)."""
        ...

    def head_scores(self, candidates: list[Candidate]) -> Tensor:
        """``[K, N]``: each posterior sample's (ensemble head's) ranking reward."""
        ...


@runtime_checkable
class HasRewardModel(Protocol):
    """An explorer driven by a reward model that the rest of the run may also use."""

    reward_model: RewardModel


@runtime_checkable
class AsksSeveralPerPrompt(Protocol):
    """An explorer that asks more than one question per prompt (the loop sizes its batches by it)."""

    queries_per_prompt: int


@runtime_checkable
class DerivesTrainingPairs(Protocol):
    """An explorer whose answers are not trained on as they are: it derives its own pairs from them
    (SELM keeps the best and worst of each ranked triple), logged with ``source = label_source``."""

    label_source: str

    def training_pairs(self, answers: list[Comparison]) -> list[Comparison]: ...


@runtime_checkable
class AsksAgainstReference(Protocol):
    """An explorer whose every query is a policy sample (``a``) against one of the last
    ``reference_candidates`` of its prompt's candidates, which the actor samples from the reference
    policy (``b``): XPO."""

    reference_candidates: int


@runtime_checkable
class Checkpointable(Protocol):
    """An explorer with learned state that a checkpoint must keep (an ensemble's heads)."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass(frozen=True)
class ExplorerPowers:
    """What an explorer can do besides ``select`` and ``update``, found once at assembly."""

    queries_per_prompt: int = 1
    pair_deriver: DerivesTrainingPairs | None = None
    checkpoint: Checkpointable | None = None
    reward_model: RewardModel | None = None
    reference_b: bool = False
    """Its queries' ``b`` is a reference-policy sample (``AsksAgainstReference``)."""


def powers_of(explorer: Explorer) -> ExplorerPowers:
    return ExplorerPowers(
        queries_per_prompt=explorer.queries_per_prompt if isinstance(explorer, AsksSeveralPerPrompt) else 1,
        pair_deriver=explorer if isinstance(explorer, DerivesTrainingPairs) else None,
        checkpoint=explorer if isinstance(explorer, Checkpointable) else None,
        reward_model=explorer.reward_model if isinstance(explorer, HasRewardModel) else None,
        reference_b=isinstance(explorer, AsksAgainstReference),
    )
