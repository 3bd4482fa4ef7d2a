"""What a step's policy update learns from, decided once at assembly (``LabelPlan.build``).

The oracle's answers alone (online DPO, XPO, APL); or with pairs labelled by the explorer's reward
model instead of asked (ERM sync ``replace``, oat's rule) or added to them (ERM sync ``add``), after a
burn-in (SEA, Liu et al. 2024 sec. 4.2.3); or reinforce signals from the reward model on the step's
pairs, plus a query-free batch (Asghari et al. 2026 sec. 4.3.3); or the pairs an explorer derives
from its answers (SELM's best vs worst of a ranked triple). The collection (``collect.py``) and the
schedules (``schedules.py``) read the plan; the labels themselves are made in ``model_labels.py``
and by the explorer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sealign.run.learning_settings import LearningSettings

if TYPE_CHECKING:
    from sealign.exploration.base import ExplorerPowers
    from sealign.records.types import Comparison


@dataclass(frozen=True)
class LabelPlan:
    policy_learns: bool = True
    """False: the policy never changes; only the explorer's reward model learns (``--learn-policy false``)."""
    erm_sync: float = 0.0
    """ERM sync's share r of the policy's data labelled by the reward model; 0 = off."""
    erm_mode: str = "replace"
    """replace: some prompts are labelled instead of asked; add: labels join every prompt's answer."""
    erm_burn_in: int = 0
    """Steps before ERM sync's labels join the policy's data."""
    reward_model_signals: bool = False
    """The policy reinforces on the reward model's signals, not on preferences (``--policy-signal reward-model``)."""
    query_free_batch: bool = False
    """With the signals: a second update per step on a fresh batch the reward model labels, no query spent."""
    derived_source: str | None = None
    """The log source of the pairs the explorer derives from its answers (SELM: "ranked"): the policy
    learns from those instead of the answers, also in rounds. None: no derived pairs."""
    reference_b: bool = False
    """Every query asks about a policy sample (a) against a reference-policy sample (b): XPO. The
    feedback log does not keep ``Candidate.source``: ``collect.Replay`` restores it from here."""

    @classmethod
    def build(cls, settings: LearningSettings, powers: ExplorerPowers) -> LabelPlan:
        """From the run's learning settings and the explorer's powers."""
        deriver = powers.pair_deriver
        return cls(policy_learns=settings.learn_policy, erm_sync=settings.erm_sync, erm_mode=settings.erm_mode,
                   erm_burn_in=settings.erm_burn_in, reward_model_signals=settings.policy_signal == "reward-model",
                   query_free_batch=settings.query_free_batch,
                   derived_source=deriver.label_source if deriver is not None else None,
                   reference_b=powers.reference_b)

    def erm(self, step: int) -> str | None:
        """ERM sync at step ``step``: its mode ("replace" or "add"), or None (off, or in the burn-in)."""
        return self.erm_mode if self.erm_sync > 0 and step >= self.erm_burn_in else None

    def labels_after_answers(self, step: int) -> bool:
        """Whether step ``step`` labels pairs after its answers, without a query (``collect.update_explorer``):
        derived pairs, reward-model signals or ERM sync's added pairs."""
        return self.derived_source is not None or self.reward_model_signals or self.erm(step) == "add"

    def policy_data(self, answers: list[Comparison], labels: list[Comparison]) -> list[Comparison]:
        """What the step's policy update learns from: the labels alone where they stand for the answers
        (reward-model signals, derived pairs), else the answers and the labels (ERM sync's)."""
        if self.reward_model_signals or self.derived_source is not None:
            return labels
        return answers + labels

    @property
    def round_source(self) -> str:
        """The log source a round trains on: the derived pairs' where the explorer has them, else the oracle's."""
        return self.derived_source or "oracle"
