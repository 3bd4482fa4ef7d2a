"""The online loop: sample, choose a pair, ask, log, learn, evaluate. Reads top to bottom."""

from __future__ import annotations

import dataclasses
import resource
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sealign import model_labels, round_selection
from sealign.components import RunParts, assemble
from sealign.config import RunConfig, apply_overrides, load_yaml
from sealign.data.prompts import PromptOrder
from sealign.errors import UserError
from sealign.exploration.base import Query
from sealign.faults import fault_point
from sealign.feedback_log import FeedbackLog
from sealign.run_lock import run_lock
from sealign.samples import SAMPLES_FILE, SAMPLES_PER_EVAL, append_samples, keep_samples_until
from sealign.trackers import Trackers, open_trackers
from sealign.tracking import MetricsWriter, RunProgress
from sealign.types import Comparison, PreferenceBatch, SignalBatch
from sealign.warm_start import warm_start


@dataclass
class LoopState:
    """Where a run stands; saved in every checkpoint so that `--resume` continues from it."""

    step: int = 0
    queries: int = 0
    metrics_lines: int = 0
    elapsed_s: float = 0.0
    rounds_done: int = 0
    round_start_step: int = 0


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
        parts.actor.sync_weights(parts.learner)  # runtime hook (issue #7): actors get the restored weights
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
    """The loop itself."""
    run_dir = config.run_dir
    metrics = MetricsWriter(run_dir / "metrics.jsonl", append=True, lines=state.metrics_lines, mirrors=trackers)
    logged = answers_by_step(feedback, since_step=state.step)  # answered, not yet learned from
    # Paper 003's query-free batches draw their prompts from a second, independently shuffled order.
    free_order = PromptOrder(parts.prompt_order.prompts, config.batch_size, config.seed + 1)
    start = time.perf_counter() - state.elapsed_s
    if state.metrics_lines == 0:
        evaluate(parts, metrics, state.step, state.queries)
        if parts.offline_data is not None:
            warm_start(config, parts, metrics, log)
            evaluate(parts, metrics, state.step, state.queries)
            save_checkpoint(parts, state, metrics, start, run_dir)  # a resume never trains on it twice
    with RunProgress(config.budget, config.name) as progress:
        progress.update(state.queries)
        while state.queries < config.budget and not oracle_exhausted(parts):
            step, timer = state.step, PhaseTimer()
            candidates = queries = None
            replacing_labels: list[Comparison] = []  # ERM sync (oat's rule): labels asked of no one
            replayed = logged.pop(step, None)  # answered before a crash: replay, never ask (or pay) twice
            if replayed is None or (needs_model_labels(config, parts, step)
                                    and all(c.source == "oracle" for c in replayed[0])):
                # Live, or killed after the answers were logged but before their model labels were:
                # sampling and selection are redone (they depend only on (seed, step) and the state
                # the replay restored), so the labels can be too.
                # Neither the budget nor a round's share of it is overshot, also by an explorer that asks
                # several questions per prompt (SELM: 3): each round then trains on its share.
                per_prompt = parts.powers.queries_per_prompt
                limit = config.budget if config.schedule == "online" else round_target(config, state.rounds_done)
                prompts = parts.prompt_order.batch(step)[: -(-(limit - state.queries) // per_prompt)]
                with timer("generate"):
                    candidates = parts.actor.sample(prompts, step)
                fault_point("generated", step)
                with timer("explore"):
                    queries = parts.explorer.select(candidates, np.random.default_rng([config.seed, step]))
                    if erm_replaces(config, step):
                        queries, replacing_labels = model_labels.replace_with_model_labels(
                            parts.reward_model, candidates, queries, config.erm_sync,
                            np.random.default_rng([config.seed, step, 2]), step, config.name)
            if replayed is not None:
                comparisons, skipped = replayed
            else:
                with timer("oracle"):
                    comparisons, skipped = ask(parts.oracle, queries, step, config.name)
                comparisons += replacing_labels  # logged with the answers: a replay has both or neither
                fault_point("answered", step)
                feedback.append(comparisons, step=step, skipped=skipped)  # durable before the learner sees it
            fault_point("logged", step)
            answers = [c for c in comparisons if c.source == "oracle"]
            labels = [c for c in comparisons if c.source != "oracle"]  # replayed reward-model labels
            state.queries += len(answers) + skipped  # an unanswered query is spent too
            with timer("explorer_update"):
                explorer_metrics = parts.explorer.update(answers)
            if candidates is not None:
                derived = label_with_reward_model(config, parts, candidates, queries, answers, step)
                feedback.append(derived)
                labels += derived
            record = {"step": step, "queries": state.queries, **answer_stats(answers),
                      "answers/skipped": skipped, "answers/model_labels": len(labels), **explorer_metrics}
            if config.schedule == "online" and config.learn_policy:
                with timer("learn"):
                    record.update(learn_policy(config, parts, answers, labels))
                parts.actor.sync_weights(parts.learner)  # runtime hook (issue #7): actors get the update
                if config.query_free_batch:
                    with timer("query_free"):
                        record.update(learn_query_free(config, parts, free_order.batch(step), step))
                    parts.actor.sync_weights(parts.learner)
            fault_point("learned", step)
            state.step += 1
            metrics.write({**record, **timer.times})
            progress.update(state.queries, loss=record.get("loss"))
            if config.schedule == "online" and state.step % config.eval_every == 0 and state.queries < config.budget:
                progress.update(state.queries, win_rate=evaluate(parts, metrics, state.step, state.queries))
                fault_point("evaluated", step)
            if config.schedule != "online" and state.queries >= round_target(config, state.rounds_done):
                train_round(config, parts, feedback, metrics, state, log)
                if state.queries < config.budget:
                    progress.update(state.queries, win_rate=evaluate(parts, metrics, state.step, state.queries))
            if config.save_every and state.step % config.save_every == 0:
                save_checkpoint(parts, state, metrics, start, run_dir)
        if parts.validation_prompts and state.rounds_done:
            picked = round_selection.select_best_round(parts, run_dir, state.rounds_done, parts.validation_prompts)
            metrics.write({"step": state.step, "queries": state.queries, **picked})
            log(f"validation: keeping round {picked['validation/best_round']} of {state.rounds_done}")
        progress.update(state.queries, win_rate=evaluate(parts, metrics, state.step, state.queries))

    save_checkpoint(parts, state, metrics, start, run_dir)
    parts.policy.save(run_dir / "policy")
    summary = summarise(config, run_dir, feedback, time.perf_counter() - start,
                        judge=parts.evaluator.judge_name)
    trackers.log_summary(summary, run_dir / "winrate.png")
    feedback.close()
    metrics.close()
    return summary


def needs_model_labels(config: RunConfig, parts: RunParts, step: int) -> bool:
    """Whether step ``step`` labels pairs without a query (see ``label_with_reward_model``)."""
    return (parts.powers.pair_deriver is not None or config.policy_signal == "reward-model"
            or (config.erm_sync > 0 and config.erm_mode == "add" and step >= config.erm_burn_in))


def erm_replaces(config: RunConfig, step: int) -> bool:
    """Whether step ``step`` labels some prompts by the reward model instead of asking (oat's ERM sync)."""
    return config.erm_sync > 0 and config.erm_mode == "replace" and step >= config.erm_burn_in


def label_with_reward_model(config: RunConfig, parts: RunParts, candidates, queries, answers_of_step,
                            step: int) -> list[Comparison]:
    """Pairs labelled for the policy without a query: ERM sync, paper 003's signals, or an explorer's own
    derived pairs (SELM keeps the best and worst of each ranked triple)."""
    num_answers = len(answers_of_step)
    if parts.powers.pair_deriver is not None:
        return parts.powers.pair_deriver.training_pairs(answers_of_step)
    if config.policy_signal == "reward-model":
        return model_labels.signal_labels(parts.reward_model, candidates, queries, step, config.name)
    if config.erm_sync and config.erm_mode == "add" and step >= config.erm_burn_in:
        return model_labels.erm_sync_labels(parts.reward_model, candidates, queries, num_answers, config.erm_sync,
                                            step, config.name)
    return []


def learn_policy(config: RunConfig, parts: RunParts, answers: list[Comparison],
                 labels: list[Comparison]) -> dict[str, float]:
    """One policy update on this step's data: oracle preferences (plus ERM-sync labels), or reinforce
    signals from the reward model."""
    if config.policy_signal == "reward-model":
        return parts.learner.reinforce_step(SignalBatch.from_model_labels(labels))
    if parts.powers.pair_deriver is not None:  # the derived pairs replace the raw answers
        return parts.learner.step(PreferenceBatch.from_comparisons(labels))
    # XPO's query pairs a policy sample with a reference sample (b): the bonus goes on that same sample.
    return parts.learner.step(PreferenceBatch.from_comparisons(answers + labels,
                                                               b_is_reference_sample=config.explorer == "xpo"))


def learn_query_free(config: RunConfig, parts: RunParts, prompts, step: int) -> dict[str, float]:
    """Paper 003 sec. 4.3.3's second update of a step: sample a fresh batch from the updated policy
    and reinforce on the reward model's ranked pairs; no query is spent. Nothing is logged: a resumed
    run replays the step's first update and then redoes this one, which depends only on (seed, step)
    and the state the replay restores."""
    candidates = parts.actor.sample(prompts, step, stream=1)
    labels = model_labels.ranked_labels(parts.reward_model, candidates, step, config.name)
    metrics = parts.learner.reinforce_step(SignalBatch.from_model_labels(labels))
    return {f"query_free/{k}": v for k, v in metrics.items()} | {"answers/query_free_labels": len(labels)}


def round_target(config: RunConfig, rounds_done: int) -> int:
    """Queries after which round ``rounds_done`` trains (offline: a single round at the budget)."""
    rounds = 1 if config.schedule == "offline" else config.rounds
    return config.budget if rounds_done + 1 >= rounds else (rounds_done + 1) * (config.budget // rounds)


def train_round(config: RunConfig, parts: RunParts, feedback: FeedbackLog, metrics: MetricsWriter,
                state: LoopState, log) -> None:
    """Collect-then-train schedules: train on the round's data, then start the next round."""
    # An explorer that derives its own training pairs (SELM) trains the rounds on those.
    deriver = parts.powers.pair_deriver
    answers = feedback.read(source=deriver.label_source if deriver is not None else "oracle")
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
    parts.actor.sync_weights(parts.learner)  # runtime hook (issue #7): actors sample the new policy
    if parts.validation_prompts:
        round_selection.record_round(config, parts, config.run_dir, state.rounds_done + 1, parts.validation_prompts)
    state.rounds_done += 1
    state.round_start_step = state.step


def save_checkpoint(parts: RunParts, state: LoopState, metrics: MetricsWriter, start: float, run_dir: Path) -> None:
    state.metrics_lines = metrics.lines
    state.elapsed_s = time.perf_counter() - start
    explorer_state = parts.powers.checkpoint.state_dict() if parts.powers.checkpoint is not None else None
    parts.learner.save(run_dir / "checkpoints" / "last.pt",
                       extra={"loop": dataclasses.asdict(state), "explorer": explorer_state})


def answers_by_step(feedback: FeedbackLog, since_step: int) -> dict[int, tuple[list[Comparison], int]]:
    """The logged (answers, unanswered count) of every step from ``since_step`` on."""
    grouped: dict[int, tuple[list[Comparison], int]] = {
        step: ([], skipped) for step, skipped in feedback.asked_steps().items() if step >= since_step
    }
    for comparison in feedback.read(source=None):
        if comparison.step >= since_step:
            grouped.setdefault(comparison.step, ([], 0))[0].append(comparison)
    return grouped


def truncate_lines(path: Path, keep: int) -> None:
    """Keep the first ``keep`` lines of ``path`` (records written after the checkpoint are redone)."""
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[:keep]))


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


def evaluate(parts: RunParts, metrics: MetricsWriter, step: int, queries: int) -> float:
    result = parts.evaluator.evaluate()
    metrics.write({"step": step, "queries": queries, **result})
    # a few responses per evaluation, for reading what the numbers mean (`sealign report`)
    append_samples(metrics.path.parent / SAMPLES_FILE, step, queries, parts.evaluator.samples(SAMPLES_PER_EVAL))
    return result[parts.evaluator.headline_key]


def summarise(config: RunConfig, run_dir, feedback: FeedbackLog, wall: float, judge: str = "reward") -> dict:
    import json

    from sealign.plot import eval_curve, plot_runs
    from sealign.tracking import read_metrics

    queries, win_rates = eval_curve(run_dir)
    plot_runs([run_dir], run_dir / "winrate.png", title=f"{config.name}")
    records = read_metrics(run_dir / "metrics.jsonl")
    rewards = [r["eval/reward"] for r in records if "eval/reward" in r]
    win_probs = [r["eval/win_prob"] for r in records if "eval/win_prob" in r]
    picked = [r["validation/best_round"] for r in records if "validation/best_round" in r]
    summary = {
        "run": config.name,
        "preset": config.preset + (f":{config.variant}" if config.variant else ""),
        "queries": len(feedback),
        "oracle_cost": feedback.total_cost(),
        "initial_win_rate": win_rates[0],
        "final_win_rate": win_rates[-1],
        "best_win_rate": max(win_rates),
        "final_win_prob": win_probs[-1] if win_probs else None,
        "eval_judge": judge,
        "initial_reward": rewards[0] if rewards else None,
        "final_reward": rewards[-1] if rewards else None,
        "best_round": picked[-1] if picked else None,
        "wall_time_s": round(wall, 1),
        "queries_per_s": round(len(feedback) / wall, 2),
        # ru_maxrss is in KiB on Linux: the process's peak resident memory, models and activations included
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "run_dir": str(run_dir),
        "curve": list(zip(queries, win_rates)),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


class PhaseTimer:
    """Wall time of the loop's phases, as ``time/<phase>`` metrics."""

    def __init__(self):
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        yield
        self.times[f"time/{phase}"] = round(time.perf_counter() - start, 4)
