"""Explorers in a real run on the tiny random policy: live features feed every answer to SEA's heads."""

from __future__ import annotations

import json

from tests.conftest import tiny_run_config


def test_a_sea_run_on_live_features_feeds_every_answer_to_its_heads(tmp_path, tiny_policy_folder, monkeypatch):
    from sealign.exploration.features import BackboneFeatures
    from sealign.run.loop import run

    passes = []
    monkeypatch.setattr(BackboneFeatures, "__call__", lambda self, candidates: passes.append(len(candidates)))
    config = tiny_run_config(tmp_path, tiny_policy_folder, run_name="live", explorer="sea-ee",
                             explore_features="live", explore_heads=4)
    run(config, log=lambda _: None)
    rows = [json.loads(line) for line in (tmp_path / "live" / "metrics.jsonl").read_text().splitlines()]
    buffers = [r["explore/rm/buffer"] for r in rows if "explore/rm/buffer" in r]
    assert buffers and buffers[-1] == 48  # every answered query reached the heads
    assert passes == []  # with features from the sampling pass: no feature pass at all
