"""Real people as the oracle: pairs go to a queue that `sealign serve-feedback` shows to raters.

``compare`` puts the pairs the explorer chose into the SQLite queue (at most ``max_pending``
waiting at once), then waits for raters' answers until every pair has ``raters_per_pair`` of
them or ``timeout`` seconds have passed. A pair nobody answered in time is taken off the
raters' screens and returned as "no answer"; a pair some but not all of its raters answered uses
the answers it has. Several answers are combined by majority: P(a > b) is the mean of 1 / 0.5 / 0
for a / tie / b. The cost of an answer is the rater time it took, in seconds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sealign.errors import ConfigError, UserError
from sealign.oracles.base import Verdict, check_lengths, winner_from_prob
from sealign.server.queue import Answer, FeedbackQueue

if TYPE_CHECKING:
    from sealign.oracles.settings import OracleSettings

SCORE = {"a": 1.0, "tie": 0.5, "b": 0.0}


class HumanOracle:
    waits_for_people = True
    """Raters away for a while are no fault: never stopped for answering nothing (``SilenceWatch``)."""

    def __init__(self, queue: FeedbackQueue | str, run_id: str = "run", *, timeout: float = 3600.0,
                 max_pending: int = 64, raters_per_pair: int = 1, poll_interval: float = 0.5,
                 name: str = "human", log=print):
        if timeout <= 0 or max_pending < 1 or raters_per_pair < 1:
            raise ConfigError("human_timeout must be > 0, human_max_pending and human_raters_per_pair >= 1")
        self.queue = queue if isinstance(queue, FeedbackQueue) else FeedbackQueue(queue)
        self.run_id = run_id
        self.timeout, self.max_pending, self.raters_per_pair = timeout, max_pending, raters_per_pair
        self.poll_interval = poll_interval
        self.name = name
        self.log = log
        # Pairs this run left open when its process stopped will never be collected: hide them.
        if stale := self.queue.expire_run(run_id):
            log(f"human oracle: {stale} pair(s) left open by an earlier process of run {run_id!r} are withdrawn")

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        check_lengths(prompts, responses_a, responses_b)
        if not prompts:
            return []
        raters = self.queue.active_raters()
        if raters < self.raters_per_pair:
            raise UserError(
                f"the feedback queue {self.queue.path} has {raters} active rater(s) but each pair needs "
                f"{self.raters_per_pair}; add raters with `sealign raters add NAME --db {self.queue.path}`"
            )
        deadline = time.monotonic() + self.timeout
        todo = list(range(len(prompts)))  # not yet enqueued, in order
        waiting: dict[str, int] = {}  # pair id -> query index
        results: dict[int, list[Answer]] = {}
        while todo or waiting:
            # Keep the queue topped up to max_pending: raters never wait for a whole batch to finish.
            take, todo = todo[: self.max_pending - len(waiting)], todo[self.max_pending - len(waiting):]
            if take:
                ids = self.queue.enqueue(self.run_id, [prompts[i] for i in take], [responses_a[i] for i in take],
                                         [responses_b[i] for i in take], self.raters_per_pair)
                waiting.update(zip(ids, take))
            answers = self.queue.answers(list(waiting))
            done = [pid for pid, got in answers.items() if len(got) >= self.raters_per_pair]
            if done:
                self.queue.close_pairs(done)
                for pid in done:
                    results[waiting.pop(pid)] = answers[pid]
            if time.monotonic() >= deadline:
                break
            if waiting and not done:
                time.sleep(self.poll_interval)
        if waiting:
            self._give_up(waiting, results)
        return [self._verdict(results.get(i)) for i in range(len(prompts))]

    def _give_up(self, waiting: dict[str, int], results: dict[int, list[Answer]]) -> None:
        """At the deadline: keep the partial answers there are, take every waiting pair off the screens."""
        self.queue.close_pairs(list(waiting), status="expired")
        # Read again after closing: an answer may have landed between the last poll and the close.
        for pid, got in self.queue.answers(list(waiting)).items():
            results[waiting[pid]] = got
        missing = sum(waiting[pid] not in results for pid in waiting)
        if missing:
            self.log(f"human oracle: {missing} pair(s) got no answer within {self.timeout:g}s and are skipped")

    def _verdict(self, answers: list[Answer] | None) -> Verdict:
        if not answers:
            return Verdict.abstain(f"no rater answered within {self.timeout:g}s", cost_unit="rater_seconds")
        prob_a = sum(SCORE[a.choice] for a in answers) / len(answers)
        return Verdict(winner_from_prob(prob_a), prob_a, cost=sum(a.seconds for a in answers),
                       cost_unit="rater_seconds")


def build(config: OracleSettings, seed_offset: int = 0) -> HumanOracle:
    db = config.human_db or str(config.run_dir / "human-queue.sqlite")
    return HumanOracle(db, config.name, timeout=config.human_timeout, max_pending=config.human_max_pending,
                       raters_per_pair=config.human_raters_per_pair)
