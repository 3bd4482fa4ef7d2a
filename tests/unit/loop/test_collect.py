"""Collecting answers (sealign/run/collect.py): what is asked of the oracle."""

from __future__ import annotations

from sealign.exploration.base import Query
from sealign.run.collect import drop_identical_pairs
from tests.unit.exploration.test_pair_selection import candidates_of


def test_identical_pairs_are_dropped_before_asking():
    group = candidates_of(["a", "a", "b"])
    queries = [[Query(group[0], group[1])], [Query(group[0], group[2])], []]
    kept, dropped = drop_identical_pairs(queries)
    assert kept == [[], [Query(group[0], group[2])], []] and dropped == 1
