"""Trackers line up with TRL's dashboards (its metric names beside sealign's), and --report-to trackio
(issue 28, item 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sealign.config import RunConfig
from sealign.loop import run
from sealign.trackers import TRL_NAMES, metric_scalars, tracker_names
from sealign.tracking import read_metrics
from tests.conftest import ROOT, tiny_run_config


def test_a_record_goes_to_the_trackers_under_its_own_and_trls_names():
    record = {"step": 3, "queries": 96, "loss": 0.6, "rewards/margin": 0.2, "rewards/accuracy": 0.75, "kl": 0.01,
              "lr": 1e-4, "answers/skipped": 0, "note": "text"}
    logged = metric_scalars(record)
    assert logged["rewards/margin"] == logged["train/rewards/margins"] == 0.2
    assert logged["train/rewards/accuracies"] == 0.75 and logged["train/objective/kl"] == 0.01
    assert logged["train/learning_rate"] == 1e-4 and logged["train/loss"] == 0.6
    assert logged["train/global_step"] == 3 and "step" not in logged and "note" not in logged
    assert logged["queries"] == 96 and "train/queries" not in logged
    assert set(TRL_NAMES.values()) >= {"train/rewards/chosen", "train/rewards/rejected", "train/logps/chosen"}


def test_tensorboard_shows_the_learner_under_trls_names_and_metrics_jsonl_keeps_its_own(tmp_path,
                                                                                       tiny_policy_folder):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(tiny_run_config(tmp_path, tiny_policy_folder, run_name="tb", report_to="tensorboard", budget=16),
        log=lambda _: None)
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    records = read_metrics(tmp_path / "tb" / "metrics.jsonl")
    margins = [(r["step"], r["rewards/margin"]) for r in records if "rewards/margin" in r]
    assert margins and [(e.step, pytest.approx(e.value)) for e in events.Scalars("train/rewards/margins")] == margins
    assert not any(name.startswith("train/") for r in records for name in r)  # metrics.jsonl as before


def test_trackio_is_a_tracker_name():
    assert tracker_names("tensorboard,trackio") == ["tensorboard", "trackio"]
    RunConfig(report_to="trackio").validate()


def test_a_run_reported_to_trackio_lands_in_its_local_database(tmp_path, tiny_policy_folder):
    pytest.importorskip("trackio")
    # A process of its own: trackio reads TRACKIO_DIR when imported, and the test must not write ~/.cache.
    script = f"""
import json
from sealign.loop import run
from tests.conftest import tiny_run_config
run(tiny_run_config({str(tmp_path)!r}, {str(tiny_policy_folder)!r}, run_name="trk", report_to="trackio",
                    budget=16), log=lambda _: None)
from trackio.sqlite_storage import SQLiteStorage
print("LOGS" + json.dumps(SQLiteStorage.get_logs("sealign-test", "trk"), default=str))
"""
    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio"), "TRACKIO_PROJECT": "sealign-test"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    logs = json.loads(done.stdout.split("LOGS", 1)[1].splitlines()[0])
    records = read_metrics(tmp_path / "trk" / "metrics.jsonl")
    expected = [r["eval/win_rate"] for r in records if "eval/win_rate" in r]
    assert [row["eval/win_rate"] for row in logs if "eval/win_rate" in row] == pytest.approx(expected)
    assert any("train/rewards/margins" in row for row in logs)
    assert any("summary/final_win_rate" in row for row in logs)
    assert (tmp_path / "trackio" / "sealign-test.db").is_file()
