"""The loop: collect (or replay) a step's answers, update the explorer, let the schedule act on them,
record, evaluate. Reads top to bottom; each verb is a short function of its own module
(``collect.py``, ``schedules.py``)."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

from sealign.analysis.summary import summarise
from sealign.config import RunConfig, apply_overrides, load_yaml
from sealign.errors import UserError
from sealign.lookup import pick
from sealign.records.feedback_log import FeedbackLog
from sealign.records.samples import SAMPLES_FILE, SAMPLES_PER_EVAL, append_samples, keep_samples_until
from sealign.records.tracking import MetricsWriter, RunProgress, read_metrics
from sealign.run.collapse import ANSWER_STATS, CollapseWatch
from sealign.run.collect import Batch, Replay, collect_or_replay, oracle_exhausted, update_explorer
from sealign.run.components import RunParts, assemble
from sealign.run.faults import fault_point
from sealign.run.loop_state import LoopState
from sealign.run.run_lock import run_lock
from sealign.run.schedules import SCHEDULES
from sealign.run.warm_start import warm_start
from sealign.trackers import Trackers, open_trackers

__all__ = ["LoopState", "drive", "resume", "run"]


def run(config: RunConfig, log=print) -> dict:
    """Run one experiment to its query budget; returns the summary also written to summary.json."""
    config.validate()
    run_dir = config.run_dir
    refuse_existing_run(run_dir)  # before the slow assembly, and again under the lock
    parts = assemble(config, log=log)
    with run_lock(run_dir):
        refuse_existing_run(run_dir)
        config.save(run_dir / "config.yaml")
        return drive(config, parts, LoopState(), log)


def refuse_existing_run(run_dir: Path) -> None:
    if (run_dir / "feedback.sqlite").exists():
        raise UserError(f"{run_dir} already holds a run; continue it with --resume {run_dir}, "
                        "or choose another --run-name")


def resume(run_dir: Path, log=print) -> dict:
    """Continue a run that stopped (killed at any point) from its last checkpoint and its log.

    Answers logged after the checkpoint are replayed to the learner and explorer, never asked
    again; the steps after them run live and, as sampling and the simulated oracle are functions
    of (seed, step, question), they reproduce what the uninterrupted run would have done.
    """
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.yaml); nothing to resume")
    with run_lock(run_dir):
        return _resume_locked(run_dir, config_file, log)


def _resume_locked(run_dir: Path, config_file: Path, log) -> dict:
    if (run_dir / "summary.json").exists():
        raise UserError(f"{run_dir} already finished; start a new run instead")
    config = apply_overrides(RunConfig(), load_yaml(str(config_file)), str(config_file)).validate()
    if config.run_dir.resolve() != run_dir.resolve():  # the folder was moved or renamed
        config = dataclasses.replace(config, out_dir=str(run_dir.parent), run_name=run_dir.name)
    parts = assemble(config, log=log)
    state = LoopState()
    checkpoint = run_dir / "checkpoints" / "last.pt"
    if checkpoint.exists():
        extra = parts.learner.load(checkpoint)
        parts.actor.sync_weights(parts.learner)  # the runtime's hook: actors get the restored weights
        state = LoopState(**extra["loop"])
        if extra.get("explorer") is not None and parts.powers.checkpoint is not None:
            parts.powers.checkpoint.load_state_dict(extra["explorer"])
    log(f"resuming {config.name} at step {state.step} ({state.queries} queries trained on)")
    truncate_lines(run_dir / "metrics.jsonl", state.metrics_lines)
    keep_samples_until(run_dir, state.step if state.metrics_lines else -1)
    return drive(config, parts, state, log)


def drive(config: RunConfig, parts: RunParts, state: LoopState, log) -> dict:
    """The loop, from ``state`` to the budget, with the run's trackers (--report-to) open around it."""
    run_dir = config.run_dir
    feedback = FeedbackLog(run_dir / "feedback.sqlite", run_id=config.name)
    trackers = open_trackers(config.report_to, run_dir, config.name, config.to_dict(), log)
    try:
        return loop_to_budget(config, parts, state, log, feedback, trackers)
    finally:
        trackers.close()  # a W&B run is finished even when the loop dies


def loop_to_budget(config: RunConfig, parts: RunParts, state: LoopState, log, feedback: FeedbackLog,
                   trackers: Trackers) -> dict:
    """The loop itself: five verbs per step."""
    metrics = MetricsWriter(config.run_dir / "metrics.jsonl", append=True, lines=state.metrics_lines,
                            mirrors=trackers)
    replay = Replay(feedback, since_step=state.step, reference_b=parts.label_plan.reference_b)  # not yet learned from
    schedule = pick("schedule", config.schedule, SCHEDULES)(config, parts, feedback, metrics, log)
    start = time.perf_counter() - state.elapsed_s
    watch = CollapseWatch(log)  # empty, repeated or endless answers, a KL far out: one line, and --stop-on-collapse
    if state.metrics_lines == 0:
        begin(config, parts, state, metrics, start, log, watch)
    else:
        watch.catch_up(read_metrics(metrics.path))
    with RunProgress(config.budget, config.name) as progress:
        progress.update(state.queries)

        def evaluate_now() -> None:
            stops = config.stop_on_collapse and state.queries < config.budget
            progress.update(state.queries, win_rate=evaluate(parts, metrics, state.step, state.queries, watch, stops))
            if stops and watch.signs:
                state.stop_reason = watch.reason()

        while state.queries < config.budget and not oracle_exhausted(parts) and not state.stop_reason:
            batch = collect_or_replay(config, parts, state.step, schedule.query_limit(state), state.queries,
                                      replay, feedback)  # sample, select, ask, log (or replay the log)
            state.queries += batch.spent  # an unanswered query is spent too
            record = update_explorer(config, parts, batch, state.queries, feedback)
            record |= schedule.on_answers(batch)  # online: the policy learns now
            record_step(state, metrics, progress, record, batch)
            watch.observe(record)
            schedule.end_step(state, evaluate_now)  # online: every eval_every steps; rounds: train a full round
            if config.save_every and state.step % config.save_every == 0:
                save_checkpoint(parts, state, metrics, start, config.run_dir)
        schedule.finish(state, metrics, log)
        if state.stop_reason:  # the evaluation that saw it is the last one
            log(f"stopped early at {state.queries} of {config.budget} queries ({state.stop_reason}); "
                f"summary written to {config.run_dir / 'summary.json'}")
        else:
            evaluate_now()
    return finish(config, parts, state, metrics, feedback, trackers, start)


def begin(config: RunConfig, parts: RunParts, state: LoopState, metrics: MetricsWriter, start: float, log,
          watch: CollapseWatch | None = None) -> None:
    """A fresh run's first evaluation; with --offline-data, the warm start and a second evaluation."""
    evaluate(parts, metrics, state.step, state.queries, watch)
    if parts.offline_data is not None:
        warm_start(config, parts, metrics, log)
        evaluate(parts, metrics, state.step, state.queries, watch, config.stop_on_collapse)
        if config.stop_on_collapse and watch is not None and watch.signs:
            state.stop_reason = watch.reason()  # the warm start broke the model: no query is spent on it
        save_checkpoint(parts, state, metrics, start, config.run_dir)  # a resume never trains on it twice


def record_step(state: LoopState, metrics: MetricsWriter, progress: RunProgress, record: dict, batch: Batch) -> None:
    """The step is done: its metrics line (with the phases' wall times) and the progress bar."""
    fault_point("learned", batch.step)
    state.step += 1
    metrics.write({**record, **batch.timer.times})
    progress.update(state.queries, loss=record.get("loss"))


def finish(config: RunConfig, parts: RunParts, state: LoopState, metrics: MetricsWriter, feedback: FeedbackLog,
           trackers: Trackers, start: float) -> dict:
    run_dir = config.run_dir
    save_checkpoint(parts, state, metrics, start, run_dir)
    parts.policy.save(run_dir / "policy")
    summary = summarise(config, run_dir, feedback, time.perf_counter() - start, judge=parts.evaluator.judge_name,
                        stopped=state.stop_reason or None)
    trackers.log_summary(summary, run_dir / "winrate.png")
    feedback.close()
    metrics.close()
    return summary


def save_checkpoint(parts: RunParts, state: LoopState, metrics: MetricsWriter, start: float, run_dir: Path) -> None:
    state.metrics_lines = metrics.lines
    state.elapsed_s = time.perf_counter() - start
    explorer_state = parts.powers.checkpoint.state_dict() if parts.powers.checkpoint is not None else None
    parts.learner.save(run_dir / "checkpoints" / "last.pt",
                       extra={"loop": dataclasses.asdict(state), "explorer": explorer_state})


def truncate_lines(path: Path, keep: int) -> None:
    """Keep the first ``keep`` lines of ``path`` (records written after the checkpoint are redone)."""
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[:keep]))


def evaluate(parts: RunParts, metrics: MetricsWriter, step: int, queries: int, watch: CollapseWatch | None = None,
             stops: bool = False) -> float:
    result = parts.evaluator.evaluate()
    if watch is not None:  # the answers against the starting model's, and the steps' KL (sealign/run/collapse.py)
        evaluator = parts.evaluator
        result |= watch.check(answer_stats_of(result), evaluator.baseline_stats, len(evaluator.last_responses),
                              queries, stops)
    metrics.write({"step": step, "queries": queries, **result})
    # a few responses per evaluation, for reading what the numbers mean (`sealign report`)
    append_samples(metrics.path.parent / SAMPLES_FILE, step, queries, parts.evaluator.samples(SAMPLES_PER_EVAL))
    return result[parts.evaluator.headline_key]


def answer_stats_of(result: dict) -> dict[str, float]:
    """The evaluation's answer statistics (``collapse.answer_stats``) from its metrics."""
    return {name: result.get(f"eval/{name}", math.nan) for name in ANSWER_STATS}
