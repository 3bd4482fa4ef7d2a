"""--report-to: tracker names checked with the config, a missing package named in one line, W&B offline by
default (runs that report: tests/integration/test_trackers.py)."""

from __future__ import annotations

import pytest

from sealign.config import RunConfig
from sealign.errors import ConfigError, UserError
from sealign.trackers import check_installed, tracker_names


def test_tracker_names_are_checked_when_the_config_is():
    assert tracker_names("tensorboard, wandb") == ["tensorboard", "wandb"]
    assert tracker_names("") == [] and tracker_names("none") == []
    with pytest.raises(ConfigError, match="unknown tracker.*mlflow"):
        RunConfig(report_to="mlflow").validate()


def test_a_missing_tracker_package_is_one_line_naming_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "tensorboard":
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(UserError, match=r"pip install 'sealign\[tensorboard\]'"):
        check_installed("tensorboard")


def test_wandb_logs_offline_unless_a_key_or_a_mode_is_set(monkeypatch):
    from sealign.trackers.wandb import wandb_mode

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"
