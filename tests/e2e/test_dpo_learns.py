"""End to end: the built-in task, the real loop, the real CLI. Minutes, so marked slow."""

import json

import pytest

from sealign.cli import main
from sealign.config import RunConfig
from sealign.records.feedback_log import FeedbackLog
from sealign.records.tracking import read_metrics
from sealign.run.loop import run
from tests.conftest import TEST_SFT_STEPS

pytestmark = pytest.mark.slow


def small_config(tmp_path, sft_cache, **overrides) -> RunConfig:
    settings = dict(out_dir=str(tmp_path), cache_dir=str(sft_cache), sft_steps=TEST_SFT_STEPS, budget=384,
                    batch_size=32, eval_every=4, num_eval_prompts=96)
    return RunConfig(**{**settings, **overrides})


def test_online_dpo_win_rate_rises(tmp_path, sft_cache):
    config = small_config(tmp_path, sft_cache, run_name="online")
    summary = run(config, log=lambda _: None)
    assert summary["queries"] == 384
    assert summary["initial_win_rate"] == 0.5  # the SFT policy against itself
    assert summary["final_win_rate"] > 0.6, summary["curve"]
    assert summary["final_reward"] > summary["initial_reward"]
    run_dir = tmp_path / "online"
    for name in ("config.yaml", "metrics.jsonl", "feedback.sqlite", "winrate.png", "summary.json",
                 "checkpoints/last.pt", "policy/config.json"):
        assert (run_dir / name).exists(), name
    with FeedbackLog(run_dir / "feedback.sqlite", "online") as log:
        assert len(log) == 384
    steps = [r for r in read_metrics(run_dir / "metrics.jsonl") if "loss" in r]
    assert len(steps) == 384 // 32 and all(r["queries"] == 32 * (k + 1) for k, r in enumerate(steps))


def test_offline_dpo_is_one_flag_apart_and_runs_resolve_from_their_config(tmp_path, sft_cache, capsys):
    config = small_config(tmp_path, sft_cache, run_name="offline", schedule="offline", budget=256)
    summary = run(config, log=lambda _: None)
    assert summary["queries"] == 256
    assert summary["final_win_rate"] > 0.5
    # The resolved config re-runs the same experiment under a new name.
    rerun = ["run", "--config", str(tmp_path / "offline" / "config.yaml"), "--run-name", "again"]
    assert main(rerun) == 0
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["final_win_rate"] == summary["final_win_rate"]
    assert main(["plot", str(tmp_path / "offline"), str(tmp_path / "again"), "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 0
    capsys.readouterr()
