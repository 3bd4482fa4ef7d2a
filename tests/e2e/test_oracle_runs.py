"""A short run of the built-in task whose oracle is the LLM judge, served over HTTP on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
import torch

from sealign.cli import main
from sealign.feedback_log import FeedbackLog
from sealign.tracking import read_metrics
from tests.conftest import TEST_SFT_STEPS
from tests.judge_server import JudgeServer

torch.set_num_threads(1)
pytestmark = pytest.mark.slow


def test_a_run_judged_over_http_learns_and_pays_for_every_answer(tmp_path, sft_cache, capsys):
    with JudgeServer() as server:
        code = main([
            "run", "--oracle", "judge", "--judge-url", server.url, "--judge-model", "test-judge",
            "--judge-cache", str(tmp_path / "judge-cache.sqlite"), "--judge-price-in", "0.15",
            "--judge-price-out", "0.6", "--out-dir", str(tmp_path), "--run-name", "judged",
            "--cache-dir", str(sft_cache), "--sft-steps", str(TEST_SFT_STEPS), "--budget", "384",
            "--batch-size", "32", "--eval-every", "4", "--num-eval-prompts", "96",
        ])
        requests = server.requests
    capsys.readouterr()
    assert code == 0
    summary = json.loads((tmp_path / "judged" / "summary.json").read_text())
    assert summary["final_win_rate"] > 0.5, summary["curve"]
    assert summary["final_reward"] > summary["initial_reward"]
    with FeedbackLog(tmp_path / "judged" / "feedback.sqlite", "judged") as log:
        answers = log.read()
    assert len(answers) == summary["queries"] == 384
    assert {c.oracle for c in answers} == {"judge"} and {c.cost_unit for c in answers} == {"usd"}
    assert summary["oracle_cost"] > 0
    assert requests <= 2 * 384  # both orders, never a question twice (identical pairs are asked once)
    steps = [r for r in read_metrics(tmp_path / "judged" / "metrics.jsonl") if "answers/skipped" in r]
    assert sum(r["answers/skipped"] for r in steps) == 0


def test_a_dollar_budget_stops_the_run_early(tmp_path, sft_cache, capsys):
    with JudgeServer() as server:
        code = main([
            "run", "--oracle", "judge", "--judge-url", server.url, "--judge-cache", "off",
            "--judge-price-in", "1000", "--oracle-max-cost", "1.0", "--out-dir", str(tmp_path),
            "--run-name", "capped", "--cache-dir", str(sft_cache), "--sft-steps", str(TEST_SFT_STEPS),
            "--budget", "384", "--batch-size", "32", "--eval-every", "100", "--num-eval-prompts", "16",
        ])
    capsys.readouterr()
    assert code == 0
    summary = json.loads((tmp_path / "capped" / "summary.json").read_text())
    # $1000 per million prompt tokens: one batch of 32 questions in both orders costs more than $1.
    assert summary["queries"] == 32 and summary["oracle_cost"] > 1.0
