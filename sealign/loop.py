"""The online loop: sample, choose a pair, ask, log, learn, evaluate. Reads top to bottom."""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager

import numpy as np

from sealign.components import RunParts, assemble
from sealign.config import RunConfig
from sealign.errors import UserError
from sealign.feedback_log import FeedbackLog
from sealign.tracking import MetricsWriter, RunProgress
from sealign.types import Candidate, Comparison, PreferenceBatch


def run(config: RunConfig, log=print) -> dict:
    """Run one experiment to its query budget; returns the summary also written to summary.json."""
    config.validate()
    run_dir = config.run_dir
    if (run_dir / "feedback.sqlite").exists():
        raise UserError(f"{run_dir} already holds a run; choose another --run-name or delete it")
    parts = assemble(config, log=log)
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.yaml")
    feedback = FeedbackLog(run_dir / "feedback.sqlite", run_id=config.name)
    metrics = MetricsWriter(run_dir / "metrics.jsonl")
    start = time.perf_counter()
    queries, step = 0, 0
    evaluate(parts, metrics, step, queries)
    with RunProgress(config.budget, config.name) as progress:
        while queries < config.budget and not getattr(parts.oracle, "exhausted", False):
            prompts = parts.prompt_order.batch(step)[: config.budget - queries]
            timer = PhaseTimer()
            with timer("generate"):
                candidates = parts.actor.sample(prompts, step)
            with timer("explore"):
                pairs = parts.explorer.select(candidates, np.random.default_rng([config.seed, step]))
            with timer("oracle"):
                comparisons, skipped = ask(parts.oracle, candidates, pairs, step, config.name)
            feedback.append(comparisons)  # durable before the learner may see it
            queries += len(comparisons) + skipped  # an unanswered query is spent too
            with timer("explorer_update"):
                explorer_metrics = parts.explorer.update(comparisons)
            record = {"step": step, "queries": queries, **answer_stats(comparisons), "answers/skipped": skipped,
                      **explorer_metrics, **timer.times}
            if config.schedule == "online":
                with timer("learn"):
                    record.update(parts.learner.step(PreferenceBatch.from_comparisons(comparisons)))
                record["time/learn"] = timer.times["time/learn"]
            step += 1
            metrics.write(record)
            progress.update(queries, loss=record.get("loss"))
            if config.schedule == "online" and step % config.eval_every == 0 and queries < config.budget:
                progress.update(queries, win_rate=evaluate(parts, metrics, step, queries))

        if config.schedule == "offline":
            data = PreferenceBatch.from_comparisons(feedback.read())
            log(f"offline: training {config.offline_epochs} epochs on {len(data)} logged preferences")
            parts.learner.train_epochs(
                data, config.offline_epochs, config.batch_size, config.seed,
                on_step=lambda epoch, k, m: metrics.write({"step": step, "queries": queries, "epoch": epoch, **m}),
            )
        progress.update(queries, win_rate=evaluate(parts, metrics, step, queries))

    wall = time.perf_counter() - start
    parts.learner.save(run_dir / "checkpoints" / "last.pt", extra={"step": step, "queries": queries})
    parts.policy.save(run_dir / "policy")
    summary = summarise(config, run_dir, feedback, wall)
    feedback.close()
    metrics.close()
    return summary


def ask(oracle, candidates: list[list[Candidate]], pairs, step: int,
        run_id: str) -> tuple[list[Comparison], int]:
    """Ask the oracle about each chosen pair; returns the answers as log records, and how many
    queries got no answer (``Verdict.winner is None``: never logged, never learned from)."""
    chosen = [(group[i], group[j]) for group, pair in zip(candidates, pairs) if pair for i, j in [pair]]
    if not chosen:
        return [], 0
    verdicts = oracle.compare([a.prompt.text for a, _ in chosen], [a.text for a, _ in chosen],
                              [b.text for _, b in chosen])
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
    return result["eval/win_rate"]


def summarise(config: RunConfig, run_dir, feedback: FeedbackLog, wall: float) -> dict:
    import json

    from sealign.plot import eval_curve, plot_runs
    from sealign.tracking import read_metrics

    queries, win_rates = eval_curve(run_dir)
    plot_runs([run_dir], run_dir / "winrate.png", title=f"{config.name}")
    records = read_metrics(run_dir / "metrics.jsonl")
    rewards = [r["eval/reward"] for r in records if "eval/reward" in r]
    summary = {
        "run": config.name,
        "preset": config.preset,
        "queries": len(feedback),
        "oracle_cost": feedback.total_cost(),
        "initial_win_rate": win_rates[0],
        "final_win_rate": win_rates[-1],
        "best_win_rate": max(win_rates),
        "initial_reward": rewards[0] if rewards else None,
        "final_reward": rewards[-1] if rewards else None,
        "wall_time_s": round(wall, 1),
        "queries_per_s": round(len(feedback) / wall, 2),
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
