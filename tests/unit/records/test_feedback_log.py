import sqlite3
import time

import pytest

from sealign.errors import UserError
from sealign.records.feedback_log import FeedbackLog
from sealign.records.types import Candidate, Comparison, PreferenceBatch, Prompt


def make_comparison(k: int, winner: str = "a", run_id: str = "run") -> Comparison:
    prompt = Prompt(f"p{k}", f"prompt {k}")
    return Comparison(
        id=f"c{k}", run_id=run_id, step=k, prompt=prompt,
        a=Candidate(prompt, [1, 2, k], [3, 4, 2], f"answer a {k}"),
        b=Candidate(prompt, [1, 2, k], [5, 2], f"answer b {k}"),
        winner=winner, prob_a=0.7, oracle="bt-simulator", cost=1.0, timestamp=time.time(),
    )


def test_round_trip_keeps_every_field(tmp_path):
    written = [make_comparison(k, w) for k, w in enumerate(["a", "b", "tie"])]
    with FeedbackLog(tmp_path / "f.sqlite", "run") as log:
        log.append(written)
    with FeedbackLog(tmp_path / "f.sqlite", "run") as log:  # reopened: it is on disk
        assert len(log) == 3 and log.total_cost() == 3.0
        assert log.read() == written


def test_unanswered_queries_are_counted_as_spent_beside_the_answers(tmp_path):
    with FeedbackLog(tmp_path / "f.sqlite", "run") as log:
        assert (len(log), log.unanswered(), log.queries_spent()) == (0, 0, 0)
        log.append([make_comparison(0), make_comparison(1)], step=0, skipped=3)
        log.append([], step=1, skipped=2)  # a step the oracle answered nothing of
        log.append([make_comparison(2)], step=2)
        assert (len(log), log.unanswered(), log.queries_spent()) == (3, 5, 8)


def test_rebuilds_the_preference_dataset(tmp_path):
    with FeedbackLog(tmp_path / "f.sqlite", "run") as log:
        log.append([make_comparison(0, "a"), make_comparison(1, "b"), make_comparison(2, "tie")])
        batch = PreferenceBatch.from_comparisons(log.read())
    assert len(batch) == 2  # the tie teaches DPO nothing
    assert batch.chosen_ids == [[3, 4, 2], [5, 2]]
    assert batch.rejected_ids == [[5, 2], [3, 4, 2]]


def test_append_is_all_or_nothing(tmp_path):
    with FeedbackLog(tmp_path / "f.sqlite", "run") as log:
        log.append([make_comparison(0)])
        with pytest.raises(sqlite3.IntegrityError):
            log.append([make_comparison(1), make_comparison(0)])  # duplicate id in the batch
        assert [c.id for c in log.read()] == ["c0"]


def test_refuses_another_runs_log_and_newer_schema(tmp_path):
    FeedbackLog(tmp_path / "f.sqlite", "run-a").close()
    with pytest.raises(UserError, match="belongs to run 'run-a'"):
        FeedbackLog(tmp_path / "f.sqlite", "run-b")
    db = sqlite3.connect(tmp_path / "f.sqlite")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(UserError, match="newer than this sealign"):
        FeedbackLog(tmp_path / "f.sqlite", "run-a")


def test_refuses_a_corrupt_file(tmp_path):
    path = tmp_path / "f.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a readable SQLite"):
        FeedbackLog(path, "run")
