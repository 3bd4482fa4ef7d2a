"""One step's data: sample candidates, let the explorer choose its queries, ask the oracle, log the
answers (durably, before anyone learns from them); or, after a crash, replay what was logged.

Then ``update_explorer``: the explorer (and its reward model) learns from the answers, and the pairs
labelled without a query (ERM sync, reward-model signals, an explorer's derived pairs) are made and
logged. Sampling and selection depend only on (seed, step) and the state a resume restores, so a
replayed step that must redo its labels redoes its selection too.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from sealign.config import RunConfig
from sealign.exploration.base import Query
from sealign.records.feedback_log import FeedbackLog
from sealign.records.tracking import PhaseTimer
from sealign.records.types import Candidate, Comparison
from sealign.run import model_labels
from sealign.run.components import RunParts
from sealign.run.faults import fault_point


@dataclass
class Batch:
    """What one step collected. ``candidates`` and ``queries`` are None for a step replayed as logged."""

    step: int
    answers: list[Comparison]
    """The oracle's answers (``source == "oracle"``)."""
    labels: list[Comparison]
    """Pairs labelled without a query (replayed, ERM replacements, and those ``update_explorer`` adds)."""
    skipped: int
    """Queries asked that got no answer: spent, never learned from."""
    identical_dropped: int = 0
    """Queries of two identical texts the explorer chose, dropped before asking (answer known: a tie)."""
    candidates: list[list[Candidate]] | None = None
    queries: list[list[Query]] | None = None
    timer: PhaseTimer = field(default_factory=PhaseTimer)

    @property
    def spent(self) -> int:
        return len(self.answers) + self.skipped


class Replay:
    """The logged (answers, unanswered count) of every step from ``since_step`` on: answered before a
    crash, not yet learned from. They are replayed, never asked (or paid for) twice.

    ``reference_b`` (``LabelPlan.reference_b``, XPO): each answer's ``b`` was sampled from the reference
    policy. The log has no column for ``Candidate.source`` (and no schema change is made for it), so
    this is the one place it is derived again, from the run's explorer rather than from the log.
    """

    def __init__(self, feedback: FeedbackLog, since_step: int, reference_b: bool = False):
        self.logged: dict[int, tuple[list[Comparison], int]] = {
            step: ([], skipped) for step, skipped in feedback.asked_steps().items() if step >= since_step
        }
        for comparison in feedback.read(source=None):
            if comparison.step >= since_step:
                if reference_b and comparison.source == "oracle":
                    comparison.b.source = "reference"
                self.logged.setdefault(comparison.step, ([], 0))[0].append(comparison)

    def pop(self, step: int) -> tuple[list[Comparison], int] | None:
        return self.logged.pop(step, None)


def collect_or_replay(config: RunConfig, parts: RunParts, step: int, query_limit: int, queries_so_far: int,
                      replay: Replay, feedback: FeedbackLog) -> Batch:
    """Step ``step``'s answers: replayed from the log, or asked now and logged. ``query_limit`` caps the
    queries spent by the end of the step (the budget, or the current round's share of it)."""
    timer = PhaseTimer()
    plan = parts.label_plan
    replayed = replay.pop(step)
    candidates = queries = None
    identical = 0
    replacing_labels: list[Comparison] = []  # ERM sync (oat's rule): labels asked of no one
    if replayed is None or (plan.labels_after_answers(step) and all(c.source == "oracle" for c in replayed[0])):
        # Live, or killed after the answers were logged but before their model labels were: the
        # selection is redone so that the labels can be.
        # Neither the budget nor a round's share of it is overshot, also by an explorer that asks
        # several questions per prompt (SELM: 3; the last prompt asks what is left): each round then trains
        # on its share.
        per_prompt, room = parts.powers.queries_per_prompt, query_limit - queries_so_far
        # ERM sync samples the whole batch even when little room is left (a budget's tail, the query grid):
        # its labels cost nothing, and a step cut to its last few asked pairs would still be a full update.
        prompts = parts.prompt_order.batch(step)
        if plan.erm(step) != "replace":
            prompts = prompts[: -(-room // per_prompt)]
        with timer("generate"):
            candidates = parts.actor.sample(prompts, step)
        fault_point("generated", step)
        with timer("explore"):
            queries = parts.explorer.select(candidates, np.random.default_rng([config.seed, step]))
            if plan.erm(step) == "replace":
                queries, replacing_labels = model_labels.replace_with_model_labels(
                    parts.reward_model, candidates, queries, plan.erm_sync,
                    np.random.default_rng([config.seed, step, 2]), step, config.name)
            queries = within_room(queries, room)
            if not config.ask_identical_pairs and per_prompt == 1:
                queries, identical = drop_identical_pairs(queries)
    if replayed is not None:
        comparisons, skipped = replayed
    else:
        with timer("oracle"):
            comparisons, skipped = ask(parts.oracle, queries, step, config.name)
        comparisons += replacing_labels  # logged with the answers: a replay has both or neither
        fault_point("answered", step)
        feedback.append(comparisons, step=step, skipped=skipped)  # durable before the learner sees it
    fault_point("logged", step)
    return Batch(step, answers=[c for c in comparisons if c.source == "oracle"],
                 labels=[c for c in comparisons if c.source != "oracle"],  # replayed reward-model labels
                 skipped=skipped, identical_dropped=identical, candidates=candidates, queries=queries,
                 timer=timer)


def drop_identical_pairs(queries: list[list[Query]]) -> tuple[list[list[Query]], int]:
    """``queries`` without those whose two texts are the same, and how many were dropped: the answer
    to such a question is known (a tie, which the learner drops), so asking it only spends the budget."""
    kept = [[q for q in per_prompt if q.a.text != q.b.text] for per_prompt in queries]
    return kept, sum(len(a) - len(b) for a, b in zip(queries, kept))


def within_room(queries: list[list[Query]], room: int) -> list[list[Query]]:
    """The first ``room`` queries, in prompt order: with several questions per prompt and a room that is
    no multiple of them, the last prompt asks only what is left (a budget is a cap, never overshot)."""
    kept = []
    for per_prompt in queries:
        kept.append(per_prompt[:max(0, room)])
        room -= len(kept[-1])
    return kept


def update_explorer(config: RunConfig, parts: RunParts, batch: Batch, queries_so_far: int,
                    feedback: FeedbackLog) -> dict:
    """The explorer learns from the step's answers; then the pairs labelled without a query are made
    and logged (they may use what the reward model just learned). Returns the step's metrics record."""
    with batch.timer("explorer_update"):
        explorer_metrics = parts.explorer.update(batch.answers)
    if batch.candidates is not None:
        derived = label_with_reward_model(config, parts, batch)
        feedback.append(derived)
        batch.labels += derived
    return {"step": batch.step, "queries": queries_so_far, **answer_stats(batch.answers),
            "answers/skipped": batch.skipped, "answers/model_labels": len(batch.labels),
            "answers/identical_not_asked": batch.identical_dropped, **explorer_metrics}


def label_with_reward_model(config: RunConfig, parts: RunParts, batch: Batch) -> list[Comparison]:
    """Pairs labelled for the policy after the answers, without a query (``LabelPlan.labels_after_answers``):
    an explorer's own derived pairs (SELM keeps the best and worst of each ranked triple), Asghari et
    al.'s reward-model signals, or ERM sync's added pairs."""
    plan = parts.label_plan
    if plan.derived_source is not None:
        return parts.powers.pair_deriver.training_pairs(batch.answers)
    if plan.reward_model_signals:
        return model_labels.signal_labels(parts.reward_model, batch.candidates, batch.queries, batch.step,
                                          config.name)
    if plan.erm(batch.step) == "add":
        return model_labels.erm_sync_labels(parts.reward_model, batch.candidates, batch.queries, len(batch.answers),
                                            plan.erm_sync, batch.step, config.name)
    return []


def oracle_exhausted(parts: RunParts) -> bool:
    """Whether the oracle's spending cap (--oracle-max-cost) is spent: nobody would judge another batch."""
    return parts.oracle_budget is not None and parts.oracle_budget.exhausted


def ask(oracle, queries: list[list[Query]], step: int, run_id: str) -> tuple[list[Comparison], int]:
    """Ask the oracle each query (one list per prompt); returns the answers as log records, and how many
    queries got no answer (``Verdict.winner is None``: never logged, never learned from)."""
    chosen = [(q.a, q.b) for per_prompt in queries for q in per_prompt]
    if not chosen:
        return [], 0
    verdicts = oracle.compare([a.prompt.text for a, _ in chosen], [a.text for a, _ in chosen],
                              [b.text for _, b in chosen], keys=[f"{step}:{row}" for row in range(len(chosen))])
    now = time.time()
    return [
        Comparison(
            id=uuid.uuid4().hex, run_id=run_id, step=step, prompt=a.prompt, a=a, b=b,
            winner=v.winner, prob_a=v.prob_a, oracle=oracle.name, cost=v.cost, cost_unit=v.cost_unit,
            timestamp=now,
        )
        for (a, b), v in zip(chosen, verdicts)
        if v.winner is not None
    ], sum(v.winner is None for v in verdicts)


def answer_stats(comparisons: list[Comparison]) -> dict:
    n = max(1, len(comparisons))
    return {
        "answers/ties": sum(c.winner == "tie" for c in comparisons) / n,
        "answers/identical_pair": sum(c.a.token_ids == c.b.token_ids for c in comparisons) / n,
    }
