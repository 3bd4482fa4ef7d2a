"""The win-rate evaluation (sealign/run/eval.py): a judge's position bias cancelled, win_prob at the oracle's own
temperature or left out, the run's top_p, a task's own readings, and which judge evaluates own prompts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sealign.config import RunConfig
from sealign.errors import ConfigError
from sealign.oracles.base import Verdict
from sealign.oracles.simulator import BradleyTerrySimulator
from sealign.records.types import Prompt
from sealign.run.eval import WinRateEvaluator


class FirstAlwaysWins:
    name = "biased"

    def compare(self, prompts, a, b, keys=None):
        return [Verdict("a", 0.9) for _ in prompts]


def test_an_oracle_judge_is_asked_in_both_orders_so_its_position_bias_cancels(tiny_policy):
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog")]
    evaluator = WinRateEvaluator(tiny_policy, prompts, FirstAlwaysWins(), greedy=True, temperature=0.0,
                                 max_new_tokens=4, seed=0, both_orders=True)
    metrics = evaluator.evaluate()
    assert metrics["eval/win_rate"] == 0.5 and metrics["eval/win_prob"] == pytest.approx(0.5)
    one_order = WinRateEvaluator(tiny_policy, prompts, FirstAlwaysWins(), greedy=True, temperature=0.0,
                                 max_new_tokens=4, seed=0)
    assert one_order.evaluate()["eval/win_prob"] == pytest.approx(0.9)


def test_win_prob_is_the_mean_bradley_terry_probability_at_the_oracle_temperature(tiny_policy):
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog")]
    lengths = lambda p, r: float(len(r))  # noqa: E731
    judge = BradleyTerrySimulator(lengths, temperature=1.0, deterministic=True)
    evaluator = WinRateEvaluator(tiny_policy, prompts, judge, greedy=False, temperature=1.0, max_new_tokens=6,
                                 seed=0, reward_fn=lengths, prob_temperature=2.0)
    evaluator.baseline = ["abc", "abcdef"]  # fixed answers to compare against
    texts = evaluator.responses()
    metrics = evaluator.evaluate()
    expected = np.mean([1 / (1 + math.exp(-(len(t) - len(b)) / 2.0)) for t, b in zip(texts, evaluator.baseline)])
    assert metrics["eval/win_prob"] == pytest.approx(expected)


def test_win_prob_is_left_out_when_no_bradley_terry_oracle_rates_at_that_temperature(tiny_policy):
    from sealign.run.components import win_prob_temperature

    assert win_prob_temperature(RunConfig(oracle="bt-simulator", oracle_temperature=0.3)) == 0.3
    assert win_prob_temperature(RunConfig(oracle="rule")) is None
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog")]
    lengths = lambda p, r: float(len(r))  # noqa: E731
    evaluator = WinRateEvaluator(tiny_policy, prompts, BradleyTerrySimulator(lengths, 1.0, deterministic=True),
                                 greedy=True, temperature=0.0, max_new_tokens=4, seed=0, reward_fn=lengths,
                                 prob_temperature=None)
    metrics = evaluator.evaluate()
    assert "eval/win_prob" not in metrics and metrics["eval/win_rate"] == 0.5


def test_the_evaluation_samples_with_the_runs_top_p(tiny_policy):
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog"), Prompt("2", "my friend")]
    judge = FirstAlwaysWins()
    greedy = WinRateEvaluator(tiny_policy, prompts, judge, greedy=True, temperature=0.0, max_new_tokens=6, seed=0)
    nucleus = WinRateEvaluator(tiny_policy, prompts, judge, greedy=False, temperature=1.0, max_new_tokens=6,
                               seed=0, top_p=1e-6)  # a nucleus of one token: the most likely, as greedy decoding
    sampled = WinRateEvaluator(tiny_policy, prompts, judge, greedy=False, temperature=1.0, max_new_tokens=6, seed=0)
    assert nucleus.baseline == greedy.baseline != sampled.baseline


def test_a_tasks_own_readings_are_recorded_beside_the_reward_for_policy_and_baseline(tiny_policy):
    from sealign.tasks import constraints, get_task

    assert get_task("constraints").eval_scores["constraints_met"] is constraints.constraints_met
    assert get_task("tldr").eval_scores == {}
    prompts = [Prompt("0", "the cat"), Prompt("1", "a dog")]
    lengths = lambda p, r: float(len(r))  # noqa: E731
    judge = BradleyTerrySimulator(lengths, temperature=1.0, deterministic=True)
    evaluator = WinRateEvaluator(tiny_policy, prompts, judge, greedy=True, temperature=0.0, max_new_tokens=6,
                                 seed=0, reward_fn=lengths, extra_scores={"chars": lengths})
    evaluator.baseline = ["abc", "abcdef"]
    texts = evaluator.responses()
    metrics = evaluator.evaluate()
    assert metrics["eval/chars"] == pytest.approx(np.mean([len(t) for t in texts]))
    assert metrics["eval/baseline_chars"] == pytest.approx(4.5)


def test_own_prompts_are_never_judged_by_the_builtin_summary_reward(tmp_path):
    from sealign.run.components import eval_judge_kind

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "Explain why the sky is blue."}\n')
    with pytest.raises(ConfigError, match="needs --reward-fn"):
        eval_judge_kind(RunConfig(prompts=str(prompts)))
    with pytest.raises(ConfigError, match="human raters"):
        eval_judge_kind(RunConfig(prompts=str(prompts), oracle="human"))
    with pytest.raises(ConfigError, match="needs --reward-fn"):
        eval_judge_kind(RunConfig(prompts=str(prompts), oracle="judge", eval_judge="reward"))
    assert eval_judge_kind(RunConfig(prompts=str(prompts), oracle="judge")) == "oracle"
    assert eval_judge_kind(RunConfig(prompts=str(prompts), reward_fn="m:f")) == "reward"
    assert eval_judge_kind(RunConfig()) == "reward"


def test_the_assembly_gives_the_evaluator_the_runs_top_p_and_no_win_prob_temperature_under_a_rule(
        tmp_path, tiny_policy_folder):
    from sealign.run.components import assemble
    from tests.conftest import tiny_run_config

    parts = assemble(tiny_run_config(tmp_path, tiny_policy_folder, oracle="rule", top_p=0.9), log=lambda _: None)
    assert parts.evaluator.top_p == 0.9 and parts.evaluator.prob_temperature is None
    assert "eval/win_prob" not in parts.evaluator.evaluate()
