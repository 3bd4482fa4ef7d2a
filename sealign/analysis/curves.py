"""Reading a run's curve against the queries it spent: when it reached a value, its area, the query
saving of one curve against another, and what the run paid for its curve (updates, duplicate pairs).

One rule runs through all of them: a run whose schedule changes the policy per round (offline,
iterative: ``policy_changes`` in its summary.json) deploys a fixed policy until its next round trains,
so its value *holds* from one evaluation to the next (a step function); a run whose policy changes per
step (online) is read on the straight line between two evaluations. Reading a round-based curve on
the straight line would credit it with values before any policy that has them existed (offline DPO
"reaching" 80% at 605 queries although it trains once, at 768).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sealign.analysis.run_files import run_settings
from sealign.records.tracking import read_metrics


def holds_between_evaluations(run_dir: Path) -> bool:
    """Whether the run's policy changes only when a round trains (its schedule's ``policy_changes``)."""
    return run_settings(run_dir).traits.policy_changes == "per-round"


def queries_to_reach(xs: list[int], ys: list[float], threshold: float, hold: bool = False) -> float | None:
    """Queries at which the curve ``(xs, ys)`` first reaches ``threshold``; None when it never does.

    Online (``hold`` False): read on the straight line between the last evaluation below it and the
    first at or above it, so that a finer evaluation grid is no advantage. Round-based (``hold``): the
    queries of the first evaluation at or above it, since nothing deployed before had that value.
    The first evaluation's queries when the curve starts there.
    """
    for n, (x, y) in enumerate(zip(xs, ys)):
        if y >= threshold:
            if n == 0 or hold:
                return float(x)
            fraction = (threshold - ys[n - 1]) / (y - ys[n - 1])
            return xs[n - 1] + fraction * (x - xs[n - 1])
    return None


def area_under_curve(xs: list[int], ys: list[float], hold: bool = False) -> float:
    """Mean value over the query budget, normalised by the budget spent: trapezoids online, a step
    function (each evaluation's value until the next) for a round-based run (``hold``)."""
    if len(xs) < 2 or xs[-1] == xs[0]:
        return ys[-1]
    if hold:
        area = sum((x1 - x0) * y0 for x0, x1, y0 in zip(xs, xs[1:], ys))
    else:
        area = sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:]))
    return area / (xs[-1] - xs[0])


def query_saving(baseline_curve: tuple[list[int], list[float]], preset_curve: tuple[list[int], list[float]],
                 baseline_hold: bool = False, preset_hold: bool = False) -> tuple[float, bool] | None:
    """baseline queries / preset queries to the baseline's final value, and whether the preset got there.

    The baseline's queries are where it first reached its final value, not its whole budget: a
    baseline that plateaued early is not charged for the queries it wasted after, so the saving is
    never overstated. A preset that never gets there would need more than its budget: the ratio
    returned is baseline queries / its budget, an upper bound (False). None: no ratio (the baseline's
    final value was no better than where it started, so both reach it at 0 queries).
    """
    target = baseline_curve[1][-1]
    baseline_queries = queries_to_reach(*baseline_curve, target, hold=baseline_hold)
    preset_queries = queries_to_reach(*preset_curve, target, hold=preset_hold)
    if not baseline_queries or preset_queries == 0 or preset_curve[0][-1] <= 0:
        return None
    if preset_queries is None:
        return baseline_queries / preset_curve[0][-1], False
    return baseline_queries / preset_queries, True


@dataclass(frozen=True)
class RunCosts:
    """What a run paid for its curve, read from its metrics.jsonl."""

    queries: int
    """Queries spent (answered or not), as the budget counts them."""
    updates: int
    """Policy optimiser steps (online steps that learned, and every step of a round's epochs)."""
    pairs_per_update: float
    """Mean preference pairs (or signals) per update; a step cut short shows here."""
    small_updates: int
    """Updates on fewer than half the batch's pairs (a tail step, or one cut to land on the query grid)."""
    identical_asked: float
    """Share of the answered queries whose two texts were identical (paid for, never learned from)."""
    identical_not_asked: int
    """Identical-text questions an explorer chose that were dropped before asking (spent nothing)."""

    @property
    def updates_per_query(self) -> float:
        return self.updates / self.queries if self.queries else 0.0


def run_costs(run_dir: Path, batch_size: int) -> RunCosts:
    """``run_dir``'s costs; ``batch_size`` sizes what counts as a small update."""
    every = list(read_metrics(run_dir / "metrics.jsonl"))
    records = [r for r in every if "loss" in r]
    steps = [r for r in every if "answers/skipped" in r]
    sizes = [r["learn/pairs"] for r in records if "learn/pairs" in r]
    answered = identical = 0.0
    queries = 0
    for r in steps:
        spent = r["queries"] - queries
        queries = r["queries"]
        n = max(0, spent - r.get("answers/skipped", 0))
        answered += n
        identical += r.get("answers/identical_pair", 0.0) * n
    return RunCosts(
        queries=max((r.get("queries", 0) for r in every), default=0), updates=len(records),
        pairs_per_update=sum(sizes) / len(sizes) if sizes else float("nan"),
        small_updates=sum(1 for s in sizes if s < batch_size / 2),
        identical_asked=identical / answered if answered else 0.0,
        identical_not_asked=int(sum(r.get("answers/identical_not_asked", 0) for r in steps)),
    )
