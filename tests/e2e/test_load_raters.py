"""The rater web app under load: 20 scripted raters at once against a real `sealign serve-feedback`
process (bench/raters_load.py does the work; `python -m bench.raters_load` records the numbers).

Every answer the server accepted is in the queue file, none twice, none it refused, every one
reached the run's oracle, and no pair is left open. The p95 latency is printed. The load test
runs 20 s; SEALIGN_LOAD_SECONDS=120 runs it longer.
"""

from __future__ import annotations

import itertools
import os
import random
import sqlite3

import pytest

from bench.raters_load import run_load
from sealign.server.queue import FeedbackQueue


@pytest.mark.slow
def test_twenty_raters_at_once_lose_no_answer_and_store_none_twice(tmp_path, capsys):
    seconds = float(os.environ.get("SEALIGN_LOAD_SECONDS", "20"))
    result = run_load(tmp_path / "queue.sqlite", raters=20, seconds=seconds)
    with capsys.disabled():
        print(f"\nraters load: {result.summary()}")
    assert result.problems == []
    assert result.transport_errors == 0
    # Far below what the server does (hundreds per second): only a stalled server fails these.
    assert result.accepted >= 5 * seconds and result.pairs_answered > 0
    assert result.latency_ms["all"]["p95"] < 2000


def recount(db_path) -> dict:
    """The progress figures recomputed from every stored answer (what progress() computed per request before)."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT pair_id, choice FROM assignments WHERE choice IS NOT NULL").fetchall()
    db.close()
    by_pair: dict[str, list[str]] = {}
    for pair_id, choice in rows:
        by_pair.setdefault(pair_id, []).append(choice)
    pairs = [(x, y) for choices in by_pair.values() for x, y in itertools.combinations(choices, 2)]
    return {"answered": len(rows), "multi_rated_pairs": sum(len(c) > 1 for c in by_pair.values()),
            "agreement": sum(x == y for x, y in pairs) / len(pairs) if pairs else None}


def test_progress_counters_kept_by_each_answer_match_a_recount(tmp_path):
    """progress() reads counters that submit() keeps (constant time per request, found under load);
    they must equal a recount, also for a queue file whose answers predate the counters."""
    rng = random.Random(0)
    path = tmp_path / "queue.sqlite"
    with FeedbackQueue(path) as queue:
        raters = [queue.authenticate(queue.add_rater(f"r{k}")) for k in range(4)]
        queue.enqueue("run", ["p"] * 30, ["a"] * 30, ["b"] * 30, raters_wanted=3)
        for _ in range(150):
            rater = rng.choice(raters)
            if (pair := queue.next_pair(rater)) and rng.random() < 0.8:
                queue.submit(rater, pair["pair_id"], rng.choice(["left", "right", "tie"]))
        progress = queue.progress()
    assert progress["answered"] > 50 and progress["multi_rated_pairs"] > 5
    assert {k: progress[k] for k in ("answered", "multi_rated_pairs", "agreement")} == recount(path)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE answer_stats")  # as made by a sealign before the counters
    db.close()
    with FeedbackQueue(path) as queue:
        assert queue.progress() == progress
