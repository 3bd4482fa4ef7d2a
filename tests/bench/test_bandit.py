"""bench/bandit.py: the explorers' bandit testbed runs and reads its curves."""

from __future__ import annotations

import numpy as np
import pytest


def test_bandit_testbed_smoke():
    from bench.bandit import Spec, run, summarise

    spec = Spec(budget=32, batch=8, eval_every=16, eval_contexts=20, heads=3, width=8, depth=1, steps=1)
    curves = {e: [run(spec, e, seed) for seed in range(2)] for e in ("passive", "ids")}
    assert list(curves["ids"][0]["queries"]) == [0, 16, 32]
    rows = summarise(curves, ["passive", "ids"])
    assert {r["explorer"] for r in rows} == {"passive", "ids"}
    assert all(0 <= r["final_accuracy"] <= 1 for r in rows)


def test_bandit_queries_to_reach_interpolates():
    from bench.bandit import queries_to_reach

    queries = np.array([0, 16, 32, 48])
    assert queries_to_reach(queries, np.array([0.0, 0.4, 0.8, 0.9]), 0.6) == pytest.approx(24.0)
    assert queries_to_reach(queries, np.array([0.7, 0.7, 0.8, 0.9]), 0.6) == 16.0  # the start is skipped
    assert queries_to_reach(queries, np.array([0.0, 0.1, 0.2, 0.3]), 0.6) == float("inf")
