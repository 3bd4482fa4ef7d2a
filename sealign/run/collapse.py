"""Noticing a run that degenerates: at each evaluation, the held-out answers are compared with the
starting model's answers to the same prompts, and the learner's KL estimate with a limit.

A full fine-tune of SmolLM2-135M at the built-in model's learning rate (3e-4) answered every held-out
prompt with nothing within 192 queries, at a KL of 45-50 nats, and nothing said so (issue 26). The
signs, each against the starting model's own answers (``start``), so that a model that always answers
briefly, or never ends within --max-new-tokens, is not flagged for being itself:

- ``empty``: at least half the answers are empty, a quarter more than at the start;
- ``repeated``: at most half as many distinct answers as at the start (the same answer to many prompts);
- ``looping``: at least half the answers loop (``tasks.repetition.loops``: 30% or more of their word
  trigrams repeat within them, "big vacuum big vacuum ..."), a quarter more than at the start;
- ``no_eos``: at most a quarter as many answers end with the end-of-sequence token as at the start
  (the policy no longer stops; answers run to --max-new-tokens);
- ``kl``: the mean |KL| estimate of the learner's steps since the last evaluation is above ``KL_LIMIT``.

The shares need ``MIN_ANSWERS`` answers or more: on 4 prompts one repeated answer is half of them.
"""

from __future__ import annotations

import math
import statistics

from sealign.tasks.repetition import loops

KL_LIMIT = 30.0
"""Nats per answer. Healthy runs stay far below (LoRA on SmolLM2: 0.1-0.4 after 13 steps; the built-in
model's runs end within single digits); the collapsed SmolLM2 run was at 45-50, and the built-in model's
over-optimised offline runs, which lost half their win rate, at ~35 (bench/results/sample_efficiency.md)."""
MIN_ANSWERS = 8
SIGNS = ("empty", "repeated", "looping", "no_eos", "kl")
ANSWER_STATS = ("words_per_answer", "empty_share", "distinct_share", "looping_share", "eos_share")
"""The names ``answer_stats`` returns, in order (each evaluation logs them as ``eval/<name>``)."""


def answer_stats(texts: list[str], ended: list[bool] | None) -> dict[str, float]:
    """Words per answer and the shares of empty, distinct, looping and finished (EOS) answers;
    ``eos_share`` is NaN when it is not known whether the answers ended."""
    n = max(len(texts), 1)
    return {
        "words_per_answer": statistics.fmean(len(t.split()) for t in texts) if texts else math.nan,
        "empty_share": sum(not t.strip() for t in texts) / n,
        "distinct_share": len({t.strip() for t in texts}) / n,
        "looping_share": sum(loops(t) for t in texts) / n,
        "eos_share": sum(ended) / n if ended is not None and len(ended) == len(texts) else math.nan,
    }


def collapse_signs(now: dict[str, float], start: dict[str, float], answers: int,
                   kl: float | None) -> dict[str, str]:
    """The signs of a collapse (``SIGNS``) seen now, each with the words that say it."""
    signs = {}
    if answers >= MIN_ANSWERS:
        if now["empty_share"] >= 0.5 and now["empty_share"] >= start["empty_share"] + 0.25:
            signs["empty"] = f"{now['empty_share']:.0%} of answers empty (start {start['empty_share']:.0%})"
        if now["distinct_share"] <= 0.5 * start["distinct_share"]:
            signs["repeated"] = (f"{round(now['distinct_share'] * answers)} distinct answers of {answers} "
                                 f"(start {round(start['distinct_share'] * answers)})")
        if now["looping_share"] >= 0.5 and now["looping_share"] >= start["looping_share"] + 0.25:
            signs["looping"] = (f"{now['looping_share']:.0%} of answers repeat themselves "
                                f"(start {start['looping_share']:.0%})")
        if start["eos_share"] > 0 and now["eos_share"] <= 0.25 * start["eos_share"]:
            signs["no_eos"] = (f"{now['eos_share']:.0%} of answers end with the end-of-sequence token "
                               f"(start {start['eos_share']:.0%})")
    if kl is not None and abs(kl) > KL_LIMIT:
        signs["kl"] = f"KL {kl:.1f} nats (limit {KL_LIMIT:g})"
    return signs


class CollapseWatch:
    """Held by the loop: sees each step's record (its ``kl``) and each evaluation's answers; says what it
    sees in one line and keeps the signs of the last evaluation."""

    def __init__(self, log=print):
        self.log = log
        self.kls: list[float] = []
        self.signs: dict[str, str] = {}

    def observe(self, record: dict) -> None:
        kl = record.get("kl")
        if isinstance(kl, (int, float)) and math.isfinite(kl):
            self.kls.append(float(kl))

    def catch_up(self, records: list[dict]) -> None:
        """On resume: the KL of the steps logged after the last evaluation, as the run before the kill saw them."""
        last_eval = max((i for i, r in enumerate(records) if any(k.startswith("eval/") for k in r)), default=-1)
        for record in records[last_eval + 1:]:
            self.observe(record)

    def check(self, now: dict[str, float], start: dict[str, float], answers: int, queries: int,
              stops: bool) -> dict[str, float]:
        """The evaluation's collapse metrics (``eval/collapse`` and one flag per sign, ``eval/kl``);
        logs one line when any sign is there."""
        kl = statistics.fmean(self.kls) if self.kls else None
        self.kls.clear()
        self.signs = collapse_signs(now, start, answers, kl)
        if self.signs:
            then = "stopping (--stop-on-collapse)" if stops else "--stop-on-collapse would stop the run here"
            self.log(f"collapse at {queries} queries: {'; '.join(self.signs.values())}; {then}")
        metrics = {"eval/collapse": float(bool(self.signs)),
                   **{f"eval/collapse/{sign}": float(sign in self.signs) for sign in SIGNS}}
        if kl is not None:
            metrics["eval/kl"] = kl
        return metrics

    def reason(self) -> str:
        return "collapse: " + "; ".join(self.signs.values())
