"""Short runs of the built-in task whose oracle is served over HTTP on 127.0.0.1: an LLM judge (it learns,
pays for every answer, stops at a dollar budget), a reward server (it learns), and a judge that never gives
a verdict (the run stops early and counts its abstentions)."""

from __future__ import annotations

import json

import pytest
import torch

from sealign.cli import main
from sealign.records.feedback_log import FeedbackLog
from sealign.records.tracking import read_metrics
from tests.conftest import TEST_SFT_STEPS
from tests.judge_server import JudgeServer
from tests.reward_servers import RewardServer

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


@pytest.mark.slow
def test_a_run_labelled_by_a_reward_server_learns(tmp_path, sft_cache, capsys):
    with RewardServer() as server:
        code = main([
            "run", "--oracle", "reward-server", "--reward-url", server.url("/get_reward"),
            "--reward-cache", "off", "--oracle-temperature", "0.1", "--out-dir", str(tmp_path),
            "--run-name", "rm", "--cache-dir", str(sft_cache), "--sft-steps", str(TEST_SFT_STEPS),
            "--budget", "192", "--batch-size", "32", "--eval-every", "3", "--num-eval-prompts", "64",
            "--threads", "1",
        ])
        scored = server.texts_scored
    capsys.readouterr()
    assert code == 0
    summary = json.loads((tmp_path / "rm" / "summary.json").read_text())
    assert summary["final_reward"] > summary["initial_reward"], summary["curve"]
    assert (summary["questions"], summary["answers"], summary["abstentions"]) == (192, 192, 0)
    assert summary["oracle_cost"] == pytest.approx(scored) and scored <= 2 * 192


@pytest.mark.slow
def test_a_run_against_a_silent_judge_stops_early_and_counts_its_abstentions(tmp_path, sft_cache, capsys, caplog):
    """The issue's run: a judge whose every reply lacks a verdict. It used to spend the whole budget
    and end with `queries: 0` and nothing said; now each step says so, the run stops after the third
    silent step, and a run that gets some answers counts them in summary.json."""
    common = ["--judge-model", "weak", "--judge-cache", "off", "--out-dir", str(tmp_path), "--cache-dir",
              str(sft_cache), "--sft-steps", str(TEST_SFT_STEPS), "--batch-size", "8", "--eval-every", "100",
              "--num-eval-prompts", "8", "--threads", "1"]
    with JudgeServer(reply_for=lambda prompt, a, b: "The answer is A: Hello") as server:
        code = main(["run", "--oracle", "judge", "--judge-url", server.url, "--budget", "64",
                     "--run-name", "silent", *common])
        asked = server.requests
    err = capsys.readouterr().err
    assert code == 2
    assert caplog.messages[0].startswith("step 0: judge gave no answer to 8 of 8 questions (e.g. unparseable "
                                         "verdict: 'The answer is A: Hello'")
    assert "error: judge answered none of the 24 questions of the last 3 steps" in err
    assert asked == 2 * 24  # three steps of 8 questions in both orders, not the budget's 64
    # A judge that gives no verdict about some posts (both orders): those questions are counted, not learned from.
    with JudgeServer(reply_for=lambda prompt, a, b: "Hard to say." if len(prompt) % 3 == 0 else None) as server:
        code = main(["run", "--oracle", "judge", "--judge-url", server.url, "--budget", "16",
                     "--run-name", "some", *common])
    capsys.readouterr()
    assert code == 0
    summary = json.loads((tmp_path / "some" / "summary.json").read_text())
    assert summary["questions"] == 16 and summary["answers"] + summary["abstentions"] == 16
    assert 0 < summary["abstentions"] < 16 and summary["queries"] == 16
