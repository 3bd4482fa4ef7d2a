"""The interfaces a runtime provides to the loop."""

from __future__ import annotations

from typing import Protocol

from sealign.data.prompts import PromptOrder
from sealign.oracles.base import Oracle
from sealign.policy.base import TrainablePolicy
from sealign.records.types import Candidate, Prompt


class ActorHandle(Protocol):
    """What the loop asks of the actor(s), wherever they run."""

    def sample(self, prompts: list[Prompt], step: int, stream: int = 0) -> list[list[Candidate]]:
        """``num_candidates`` responses per prompt, from the policy as of the last ``sync_weights``;
        ``stream`` > 0: another batch at the same step with independent seeds (never sampled ahead)."""
        ...

    def sync_weights(self, learner) -> None:
        """Take the learner's current weights (after an update); a no-op where they share them."""
        ...


class Runtime(Protocol):
    """Builds the parts that may live in other processes. The driver's ``policy`` (the one the
    evaluator and the explorer use) is built by the caller and passed in."""

    def oracle(self) -> Oracle: ...

    def learner(self, policy: TrainablePolicy, policy_path: str): ...

    def actor(self, policy: TrainablePolicy, policy_path: str, prompt_order: PromptOrder) -> ActorHandle: ...
