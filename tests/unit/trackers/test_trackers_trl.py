"""Trackers line up with TRL's dashboards (its metric names beside sealign's), and --report-to trackio
(issue 28, item 6)."""

from __future__ import annotations

from sealign.config import RunConfig
from sealign.trackers import TRL_NAMES, metric_scalars, tracker_names


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


def test_trackio_is_a_tracker_name():
    assert tracker_names("tensorboard,trackio") == ["tensorboard", "trackio"]
    RunConfig(report_to="trackio").validate()
