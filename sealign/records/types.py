"""The records that flow through the loop: prompts, candidates, comparisons, preference batches."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from torch import Tensor

TokenIds = list[int]
Winner = Literal["a", "b", "tie"]
Source = Literal["policy", "reference", "dataset"]


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    reference: str | None = field(default=None, compare=False)
    """A reference response from the prompt's dataset (--reference-field), for evaluation only."""


@dataclass
class Candidate:
    """One sampled response to a prompt, as text and as the exact token ids that were sampled."""

    prompt: Prompt
    prompt_ids: TokenIds
    token_ids: TokenIds
    text: str
    features: Tensor | None = field(default=None, compare=False, repr=False)
    """The sampling policy's own pooled hidden states ``[H]`` from the pass that sampled it, when the
    actor was asked for them (``explore_features='live'``); never logged."""
    source: Source = field(default="policy", compare=False)
    """Where it came from: the policy, the reference policy (the actor's ``reference_candidates``,
    XPO) or a dataset (SELM's y_w, y_l). Not a column of the feedback log: a logged candidate reads
    back as "policy", and ``collect.Replay`` restores a replayed answer's reference sample."""


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
    """Token ids of (prompt, chosen, rejected) triples, the learner's input. Ties are never here.

    ``ref_sample_ids``: optionally one response per pair sampled from the reference policy (XPO's
    queried one); None lets the learner sample them itself when its loss needs them (SELM).
    """

    prompt_ids: list[TokenIds] = field(default_factory=list)
    chosen_ids: list[TokenIds] = field(default_factory=list)
    rejected_ids: list[TokenIds] = field(default_factory=list)
    ref_sample_ids: list[TokenIds] | None = None

    def __len__(self) -> int:
        return len(self.prompt_ids)

    @classmethod
    def from_comparisons(cls, comparisons: list[Comparison]) -> PreferenceBatch:
        """The comparisons that carry a preference: not tied, and not two copies of one response (zero
        gradient; oat masks them too), which would only dilute the batch mean and count as wrong in
        ``rewards/accuracy``. When every kept pair's response b was sampled from the reference policy
        (``Candidate.source``: XPO's query), those b are the pairs' ``ref_sample_ids`` too, whichever
        side won; otherwise there are none (a batch with some is left to the learner's own samples)."""
        kept = [c for c in comparisons if c.winner != "tie" and c.a.token_ids != c.b.token_ids]
        b_from_reference = bool(kept) and all(c.b.source == "reference" for c in kept)
        return cls([c.a.prompt_ids for c in kept], [c.chosen.token_ids for c in kept],
                   [c.rejected.token_ids for c in kept], [c.b.token_ids for c in kept] if b_from_reference else None)

    def slice(self, start: int, stop: int) -> PreferenceBatch:
        return self.select(range(start, min(stop, len(self))))

    def select(self, indices) -> PreferenceBatch:
        """The rows at ``indices``, in that order."""
        rows = list(indices)
        return PreferenceBatch(
            [self.prompt_ids[i] for i in rows], [self.chosen_ids[i] for i in rows],
            [self.rejected_ids[i] for i in rows],
            None if self.ref_sample_ids is None else [self.ref_sample_ids[i] for i in rows],
        )


@dataclass
class SignalBatch:
    """(prompt, response, reinforcement signal) triples: the input of a reinforce step (Asghari et al. 2026).

    ``signals[i]`` is ``r(x, y) - r(x, y')`` for the ordered pair (y, y') that reinforces ``y``
    (the affirmative nudge is added by the loss, not here).
    """

    prompt_ids: list[TokenIds] = field(default_factory=list)
    response_ids: list[TokenIds] = field(default_factory=list)
    signals: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompt_ids)

    @classmethod
    def from_model_labels(cls, labels: list[Comparison]) -> SignalBatch:
        """Each reward-model-labelled pair in both orders, with signals ``+-(r_a - r_b)``, recovered
        as ``logit(prob_a)`` (Asghari et al. 2026 sec. 4.3.3)."""
        batch = cls()
        for c in labels:
            p = min(max(c.prob_a, 1e-12), 1 - 1e-12)
            diff = math.log(p / (1 - p))
            for response, signal in ((c.a, diff), (c.b, -diff)):
                batch.prompt_ids.append(c.a.prompt_ids)
                batch.response_ids.append(response.token_ids)
                batch.signals.append(signal)
        return batch

    @classmethod
    def from_preferences(cls, batch: PreferenceBatch, signal: float = 1.0) -> SignalBatch:
        """Each pair in both orders with the label as the reward difference: (y_w, +signal) and
        (y_l, -signal), the reward-model-free use of Asghari et al.'s update."""
        return cls(
            batch.prompt_ids + batch.prompt_ids, batch.chosen_ids + batch.rejected_ids,
            [signal] * len(batch) + [-signal] * len(batch),
        )

    def slice(self, start: int, stop: int) -> SignalBatch:
        return SignalBatch(self.prompt_ids[start:stop], self.response_ids[start:stop], self.signals[start:stop])
