"""The run's summary.json: the curve, the headline numbers and what the run cost."""

from __future__ import annotations

import json
import resource

from sealign.config import RunConfig
from sealign.records.feedback_log import FeedbackLog
from sealign.records.tracking import read_metrics
from sealign.run.collapse import SIGNS


def summarise(config: RunConfig, run_dir, feedback: FeedbackLog, wall: float, judge: str = "reward",
              stopped: str | None = None) -> dict:
    from sealign.analysis.plot import eval_curve, plot_runs  # matplotlib: imported when a run ends, not when it starts

    queries, win_rates = eval_curve(run_dir)
    plot_runs([run_dir], run_dir / "winrate.png", title=f"{config.name}")
    records = read_metrics(run_dir / "metrics.jsonl")
    rewards = [r["eval/reward"] for r in records if "eval/reward" in r]
    win_probs = [r["eval/win_prob"] for r in records if "eval/win_prob" in r]
    picked = [r["validation/best_round"] for r in records if "validation/best_round" in r]
    summary = {
        "run": config.name,
        "preset": config.preset + (f":{config.variant}" if config.variant else ""),
        # whether and when the policy changed (schedule_settings.SCHEDULE_TRAITS): how curves, compare and
        # plot read the curve (per-round: each value holds until the next round trains)
        "schedule": config.schedule,
        "policy_changes": config.traits.policy_changes,
        "learns_online": config.traits.learns_online,
        "queries": feedback.queries_spent(),  # as the budget and the curve count them: unanswered ones too
        **answer_counts(feedback),
        "oracle_cost": feedback.total_cost(),
        "initial_win_rate": win_rates[0],
        "final_win_rate": win_rates[-1],
        "best_win_rate": max(win_rates),
        "final_win_prob": win_probs[-1] if win_probs else None,
        "eval_judge": judge,
        "initial_reward": rewards[0] if rewards else None,
        "final_reward": rewards[-1] if rewards else None,
        "best_round": picked[-1] if picked else None,
        "collapse": collapse_seen(records),
        "stopped_early": stopped,  # why the run ended before its budget (--stop-on-collapse), else None
        "wall_time_s": round(wall, 1),
        "queries_per_s": round(feedback.queries_spent() / wall, 2),
        # ru_maxrss is in KiB on Linux: the process's peak resident memory, models and activations included
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "run_dir": str(run_dir),
        "curve": list(zip(queries, win_rates)),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def collapse_seen(records: list[dict]) -> dict | None:
    """The first evaluation that saw a collapse (sealign/run/collapse.py): its queries and signs, and whether
    the last evaluation still saw one; None when none did."""
    evaluations = [r for r in records if "eval/collapse" in r]
    seen = [r for r in evaluations if r["eval/collapse"]]
    if not seen:
        return None
    return {"first_queries": seen[0]["queries"],
            "signs": [sign for sign in SIGNS if seen[0].get(f"eval/collapse/{sign}")],
            "at_end": bool(evaluations[-1]["eval/collapse"])}


def answer_counts(feedback: FeedbackLog) -> dict:
    """The questions put to the oracle, the answers and the abstentions (no answer: a judge without a
    verdict, a server that failed), so that a run whose oracle said nothing shows it."""
    return {"questions": feedback.queries_spent(), "answers": len(feedback), "abstentions": feedback.unanswered()}
