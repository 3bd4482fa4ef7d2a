"""When the policy learns from the answers: after every batch (online), or in collect-then-train
rounds (iterative; offline is a single round). A new schedule is one class here, one line in
``SCHEDULES`` and one in ``schedule_settings.SCHEDULE_TRAITS`` (whether and when it changes the policy,
which config.py's rules, summary.json and the analysis read instead of the name); the loop only calls
the four methods of ``Schedule``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sealign.config import RunConfig
from sealign.data.prompts import PromptOrder
from sealign.records.feedback_log import FeedbackLog
from sealign.records.tracking import MetricsWriter
from sealign.records.types import Comparison, PreferenceBatch, SignalBatch
from sealign.run import model_labels, round_selection
from sealign.run.actor import Stream
from sealign.run.collect import Batch
from sealign.run.components import RunParts
from sealign.run.faults import fault_point
from sealign.run.loop_state import LoopState


class Schedule(Protocol):
    """Built as ``SCHEDULES[name](config, parts, feedback, metrics, log)``; what it declares about itself
    (``SCHEDULE_TRAITS[name]``, ``config.traits``) sits in schedule_settings.py, where config.py reads it."""

    def query_limit(self, state: LoopState) -> int:
        """The queries spent by the end of this step may not exceed this (the budget, or a round's share)."""
        ...

    def on_answers(self, batch: Batch) -> dict[str, float]:
        """Act on a step's answers as they come (online: one policy update); the step's learning metrics."""
        ...

    def end_step(self, state: LoopState, evaluate: Callable[[], None]) -> None:
        """After the step's record: train a full round, and call ``evaluate`` when the schedule evaluates."""
        ...

    def finish(self, state: LoopState, metrics: MetricsWriter, log) -> None:
        """After the last step, before the final evaluation."""
        ...


class OnlineSchedule:
    """The policy learns from every batch as it is answered (OAIF, SEA, XPO, APL, Asghari et al. 2026)."""

    def __init__(self, config: RunConfig, parts: RunParts, feedback: FeedbackLog, metrics: MetricsWriter, log):
        self.config, self.parts, self.feedback, self.metrics, self.log = config, parts, feedback, metrics, log
        # Asghari et al.'s query-free batches draw their prompts from a second, independently
        # shuffled order.
        self.free_order = PromptOrder(parts.prompt_order.prompts, config.batch_size, config.seed + 1)
        self.evaluated_at: int | None = None

    def query_limit(self, state: LoopState) -> int:
        grid = self.config.eval_every_queries
        if not grid:
            return self.config.budget
        return min(self.config.budget, (state.queries // grid + 1) * grid)  # land on the next grid point

    def on_answers(self, batch: Batch) -> dict[str, float]:
        config, parts = self.config, self.parts
        if not parts.label_plan.policy_learns:
            return {}
        with batch.timer("learn"):
            record = learn_policy(parts, batch.answers, batch.labels)
        parts.actor.sync_weights(parts.learner)  # the runtime's hook: actors get the update
        if parts.label_plan.query_free_batch:
            with batch.timer("query_free"):
                record.update(learn_query_free(config, parts, self.free_order.batch(batch.step), batch.step))
            parts.actor.sync_weights(parts.learner)
        return record

    def end_step(self, state: LoopState, evaluate: Callable[[], None]) -> None:
        if state.queries < self.config.budget and self.evaluation_due(state):
            self.evaluated_at = state.queries
            evaluate()
            fault_point("evaluated", state.step - 1)

    def evaluation_due(self, state: LoopState) -> bool:
        """Every eval_every steps, or on each multiple of eval_every_queries (once, however many steps
        end there: a step whose prompts were all duplicates spends nothing)."""
        grid = self.config.eval_every_queries
        if not grid:
            return state.step % self.config.eval_every == 0
        return state.queries % grid == 0 and state.queries != self.evaluated_at

    def finish(self, state: LoopState, metrics: MetricsWriter, log) -> None:
        pass


class RoundSchedule:
    """Collect a round's share of the budget with a fixed policy, then train on it (iterative: RLHFlow,
    SELM, the periodic baseline; offline: one round on the SFT policy's samples)."""

    def __init__(self, config: RunConfig, parts: RunParts, feedback: FeedbackLog, metrics: MetricsWriter, log):
        self.config, self.parts, self.feedback, self.metrics, self.log = config, parts, feedback, metrics, log

    def query_limit(self, state: LoopState) -> int:
        return round_target(self.config, state.rounds_done)

    def on_answers(self, batch: Batch) -> dict[str, float]:
        return {}  # the policy does not change within a round

    def end_step(self, state: LoopState, evaluate: Callable[[], None]) -> None:
        if state.queries >= round_target(self.config, state.rounds_done):
            train_round(self.config, self.parts, self.feedback, self.metrics, state, self.log)
            if state.queries < self.config.budget:
                evaluate()

    def finish(self, state: LoopState, metrics: MetricsWriter, log) -> None:
        """Dong et al. 2024 (RLHF Workflow), Algorithm 2: keep the best round on a validation split."""
        parts = self.parts
        if parts.validation_prompts and state.rounds_done:
            picked = round_selection.select_best_round(parts, self.config.run_dir, state.rounds_done,
                                                       parts.validation_prompts)
            metrics.write({"step": state.step, "queries": state.queries, **picked})
            log(f"validation: keeping round {picked['validation/best_round']} of {state.rounds_done}")


SCHEDULES: dict[str, type[Schedule]] = {
    "online": OnlineSchedule,
    "iterative": RoundSchedule,
    "offline": RoundSchedule,
}
"""``--schedule`` name -> its class, built as ``(config, parts, feedback, metrics, log)``; each name's
traits are in ``schedule_settings.SCHEDULE_TRAITS``."""


def learn_policy(parts: RunParts, answers: list[Comparison], labels: list[Comparison]) -> dict[str, float]:
    """One policy update on this step's data (``LabelPlan.policy_data``): oracle preferences (plus
    ERM-sync labels), an explorer's derived pairs, or reinforce signals from the reward model. XPO's
    reference samples (``Candidate.source``) ride along as the batch's ``ref_sample_ids``."""
    data = parts.label_plan.policy_data(answers, labels)
    if parts.label_plan.reward_model_signals:
        return parts.learner.reinforce_step(SignalBatch.from_model_labels(data))
    return parts.learner.step(PreferenceBatch.from_comparisons(data))


def learn_query_free(config: RunConfig, parts: RunParts, prompts, step: int) -> dict[str, float]:
    """Asghari et al. 2026 (Efficient Exploration at Scale), sec. 4.3.3: the second update of a step:
    sample a fresh batch from the updated policy and reinforce on the reward model's ranked pairs; no
    query is spent. Nothing is logged: a resumed run replays the step's first update and then redoes
    this one, which depends only on (seed, step) and the state the replay restores."""
    candidates = parts.actor.sample(prompts, step, stream=Stream.QUERY_FREE)
    labels = model_labels.ranked_labels(parts.reward_model, candidates, step, config.name)
    metrics = parts.learner.reinforce_step(SignalBatch.from_model_labels(labels))
    return {f"query_free/{k}": v for k, v in metrics.items()} | {"answers/query_free_labels": len(labels)}


def round_target(config: RunConfig, rounds_done: int) -> int:
    """Queries after which round ``rounds_done`` trains (offline: a single round at the budget)."""
    rounds = 1 if config.schedule == "offline" else config.rounds
    return config.budget if rounds_done + 1 >= rounds else (rounds_done + 1) * (config.budget // rounds)


def train_round(config: RunConfig, parts: RunParts, feedback: FeedbackLog, metrics: MetricsWriter,
                state: LoopState, log) -> None:
    """Train on the round's data, then start the next round."""
    # An explorer that derives its own training pairs (SELM) trains the rounds on those.
    answers = feedback.read(source=parts.label_plan.round_source)
    if config.round_data == "latest":
        answers = [c for c in answers if c.step >= state.round_start_step]
    data = PreferenceBatch.from_comparisons(answers)
    if config.round_init == "sft":
        parts.learner.restart_from_initial()
    log(f"round {state.rounds_done + 1}: training {config.offline_epochs} epochs on {len(data)} preferences")
    parts.learner.train_epochs(
        data, config.offline_epochs, config.batch_size, config.seed + state.rounds_done,
        on_step=lambda epoch, k, m: metrics.write(
            {"step": state.step, "queries": state.queries, "round": state.rounds_done, "epoch": epoch, **m}),
    )
    if config.round_reference == "last":
        parts.learner.sync_reference()
    parts.actor.sync_weights(parts.learner)  # the runtime's hook: actors sample the new policy
    if parts.validation_prompts:
        round_selection.record_round(config, parts, config.run_dir, state.rounds_done + 1, parts.validation_prompts)
    state.rounds_done += 1
    state.round_start_step = state.step
