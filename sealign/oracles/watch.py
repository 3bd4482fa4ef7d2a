"""An oracle that stops answering is said so, at once, and a run of silent steps ends the run.

A judge that never writes its verdict mark, a reward server that replies in another shape, a
server that went down: each abstains on every question (the right thing: no invented labels),
and without this the run would spend its whole budget on nothing and end with the win rate it
started from. ``SilenceWatch`` wraps the run's oracle and

- at a step where most questions got no answer, logs one line: how many, a sample reason (a
  judge's reason quotes its reply) and the fix the oracle suggests (``no_answer_advice``);
- after ``max_silent_steps`` steps in a row without a single answer, raises a one-line
  ``UserError`` instead of asking again.
"""

from __future__ import annotations

import logging

from sealign.errors import UserError
from sealign.oracles.base import Oracle, Verdict

logger = logging.getLogger(__name__)


class SilenceWatch:
    def __init__(self, oracle: Oracle, max_silent_steps: int = 3, warn=logger.warning):
        self.oracle = oracle
        self.name = oracle.name
        self.max_silent_steps = max_silent_steps
        self.warn = warn
        self.silent_steps = 0
        self.silent_questions = 0

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        verdicts = self.oracle.compare(prompts, responses_a, responses_b, keys=keys)
        unanswered = [v for v in verdicts if not v.answered]
        if not verdicts:
            return verdicts
        where = f"step {keys[0].split(':')[0]}" if keys else "one batch"
        if 2 * len(unanswered) > len(verdicts):
            self.warn(f"{where}: {self.name} gave no answer to {len(unanswered)} of {len(verdicts)} questions "
                      f"({self.explain(unanswered[0].reason)})")
        if len(unanswered) < len(verdicts):
            self.silent_steps = self.silent_questions = 0
            return verdicts
        self.silent_steps += 1
        self.silent_questions += len(verdicts)
        if self.max_silent_steps and self.silent_steps >= self.max_silent_steps:
            raise UserError(f"{self.name} answered none of the {self.silent_questions} questions of the last "
                            f"{self.silent_steps} steps ({self.explain(unanswered[0].reason)}); stopped rather than "
                            "spend the budget on no answers (--oracle-max-silent-steps)")
        return verdicts

    def explain(self, reason: str) -> str:
        """'e.g. REASON; FIX' with the wrapped oracle's advice for that reason, when it has some."""
        advice = getattr(self.oracle, "no_answer_advice", None)
        fix = advice(reason) if advice is not None else ""
        return f"e.g. {reason or 'no reason given'}" + (f"; {fix}" if fix else "")

    def __getattr__(self, attr):
        # Everything else (stats, endpoint, reward_fn, ...) is the wrapped oracle's.
        if attr == "oracle":  # not yet set (copy, unpickling): avoid endless recursion
            raise AttributeError(attr)
        return getattr(self.oracle, attr)
