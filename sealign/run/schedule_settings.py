"""The schedule's settings (sealign/run/schedules.py) and the query budget, with their checks, and what
each schedule declares about itself (``SCHEDULE_TRAITS``).

A leaf: imports nothing from sealign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PolicyChanges = Literal["per-step", "per-round"]


@dataclass(frozen=True)
class ScheduleTraits:
    """Whether and when a schedule changes the policy: what the rest of the house asks of a schedule
    instead of its name (``config.py``'s rules, the run's summary.json, and through it ``curves.py``,
    ``compare`` and ``plot.py``)."""

    policy_changes: PolicyChanges
    """per-step: the policy may change after any step, so a curve is read on the straight line between
    two evaluations; per-round: it changes only when a round trains, so each evaluation's value holds
    until the next (a step function in the plot, the AUC and the queries to a value)."""
    learns_online: bool
    """The policy learns from each batch as it is answered, between steps: what acts there (ERM sync's
    model labels, reward-model signals, a run in which only the reward model learns) needs it."""


SCHEDULE_TRAITS: dict[str, ScheduleTraits] = {
    "online": ScheduleTraits(policy_changes="per-step", learns_online=True),
    "iterative": ScheduleTraits(policy_changes="per-round", learns_online=False),
    "offline": ScheduleTraits(policy_changes="per-round", learns_online=False),
}
"""``--schedule`` name -> its traits; one line beside the name's class in ``schedules.SCHEDULES``
(config.py, below schedules.py, reads them here)."""


@dataclass
class ScheduleSettings:
    """When the policy learns (sealign/run/schedules.py) and the query budget."""

    schedule: Literal["online", "iterative", "offline"] = "online"
    """online: learn from every batch as it is answered; iterative: split the budget into `rounds`,
    collect a whole round with the current policy, then train on it (RLHFlow, SELM, Asghari et al.'s
    periodic baseline); offline: one round (the SFT policy collects everything, then trains)."""
    budget: int = 1536
    """Oracle queries to spend."""
    batch_size: int = 32
    """Prompts per step; one query per prompt."""
    offline_epochs: int = 3
    """Epochs over a round's data (offline and iterative schedules)."""
    rounds: int = 4
    """iterative: number of collect-then-train rounds the budget is split into."""
    round_data: Literal["all", "latest"] = "all"
    """iterative: train each round on all answers so far, or on the latest round's only."""
    round_init: Literal["last", "sft"] = "last"
    """iterative: each round continues from the last iterate, or restarts from the SFT weights."""
    round_reference: Literal["sft", "last"] = "sft"
    """iterative: the DPO reference stays the SFT policy, or becomes the last iterate (SELM)."""
    validation_prompts: int = 0
    """iterative: hold this many training prompts out as a validation split; after the last round the
    round whose responses to them the explorer's reward model scores highest is kept (Dong et al. 2024
    Alg. 2, "the best policy by a validation set"); 0 = keep the last round."""

    @property
    def traits(self) -> ScheduleTraits:
        """What this run's schedule declares (``SCHEDULE_TRAITS``)."""
        if self.schedule not in SCHEDULE_TRAITS:
            raise KeyError(f"schedule {self.schedule!r} declares no traits: add it to SCHEDULE_TRAITS in "
                           "sealign/run/schedule_settings.py")
        return SCHEDULE_TRAITS[self.schedule]

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.schedule in SCHEDULE_TRAITS,
             f"unknown schedule {self.schedule!r}; choose one of: {', '.join(sorted(SCHEDULE_TRAITS))}"),
            (self.batch_size >= 1, f"batch_size must be >= 1 (got {self.batch_size})"),
            (self.offline_epochs >= 1, f"offline_epochs must be >= 1 (got {self.offline_epochs})"),
            (self.rounds >= 1, f"rounds must be >= 1 (got {self.rounds})"),
            (self.validation_prompts >= 0, f"validation_prompts must be >= 0 (got {self.validation_prompts})"),
            (self.validation_prompts == 0 or self.schedule == "iterative",
             "validation_prompts picks the best of several rounds: it needs --schedule iterative"),
        ]
