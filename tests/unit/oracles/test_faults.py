"""Oracle faults: a query that gets no usable answer is skipped and counted, never logged as a
preference, and never crashes the run.

Where each fault is tested:

| fault | test |
|---|---|
| judge: timeout, HTTP 429 / 5xx (retried with backoff), malformed JSON | tests/test_oracles_judge.py |
| judge: unparseable verdict, failures beyond the retries -> skipped | tests/test_oracles_judge.py |
| judge: wrong key / URL (401/403/404) -> one-line error at once | tests/test_oracles_judge.py |
| a rater who never answers -> skipped, pair taken off the screens | tests/test_human_queue.py |
| NaN / inf / None from a reward_fn (bt-simulator) -> skipped | here |
| NaN from a reward model / a pairwise model -> skipped | here |
| an evaluation judge that cannot answer -> prompt left out of the win rate | here |
| all of it in the real loop: log holds only real answers, skipped count exact | here |
"""

from __future__ import annotations

import math
import zlib
from collections import Counter

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import UserError
from sealign.feedback_log import FeedbackLog
from sealign.oracles.base import Verdict
from sealign.oracles.simulator import BradleyTerrySimulator
from sealign.tasks import summarize
from sealign.tasks.summarize import prompt_reward
from sealign.tracking import read_metrics

torch.set_num_threads(1)


def flaky_reward(prompt: str, response: str):
    """The built-in reward, except NaN, inf or None for ~30% of responses (by a hash: reruns agree).

    Named by import path in the loop test: ``--reward-fn tests.unit.oracles.test_faults:flaky_reward``.
    """
    fault = {0: math.nan, 1: math.inf, 2: None}.get(zlib.crc32(response.encode()) % 10, "none")
    return prompt_reward(prompt, response) if fault == "none" else fault


def unusable(prompt: str, response: str) -> bool:
    value = flaky_reward(prompt, response)
    return value is None or not math.isfinite(value)


# ----------------------------------------------------------------------------- each oracle alone
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None])
def test_simulator_skips_a_pair_whose_reward_is_not_a_number(bad):
    rewards = {"good": 1.0, "fine": 0.5, "bad": bad}
    for deterministic in (False, True):
        oracle = BradleyTerrySimulator(lambda p, r: rewards[r], temperature=0.1, deterministic=deterministic)
        verdicts = oracle.compare(["x"] * 4, ["good", "bad", "good", "bad"], ["fine", "good", "bad", "bad"])
        assert [v.winner for v in verdicts] == ["a", None, None, None]
        assert all("non-finite reward" in v.reason for v in verdicts[1:])


def test_simulator_refuses_a_reward_fn_that_returns_no_number():
    oracle = BradleyTerrySimulator(lambda p, r: "high")
    with pytest.raises(UserError, match="must return a number or None"):
        oracle.compare(["x"], ["a"], ["b"])


@pytest.fixture(scope="module")
def tokenizer():
    from sealign.policy.builtin import train_tokenizer

    posts = summarize.make_posts(60, seed=5)
    texts = [p.prompt for p in posts] + ["[CONTEXT] [RESPONSE A] [RESPONSE B] A B"] * 20
    return train_tokenizer(texts, 200)


def tiny_llama(tokenizer, cls, **kwargs):
    from transformers import LlamaConfig

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, **kwargs)
    torch.manual_seed(0)
    return cls(config).eval()


def test_reward_model_skips_nan_scores(tokenizer):
    from transformers import LlamaForSequenceClassification

    from sealign.oracles.reward_model import RewardModelOracle

    model = tiny_llama(tokenizer, LlamaForSequenceClassification, num_labels=1)
    oracle = RewardModelOracle(model, tokenizer)
    prompts, a, b = ["a post"] * 3, ["one", "two", "three"], ["uno", "dos", "tres"]
    assert all(v.answered for v in oracle.compare(prompts, a, b))  # a healthy model answers
    with torch.no_grad():
        model.score.weight.fill_(math.nan)  # what a diverged or badly quantised model produces
    verdicts = oracle.compare(prompts, a, b)
    assert [v.winner for v in verdicts] == [None] * 3
    assert all("non-finite reward" in v.reason and v.cost > 0 and v.cost_unit == "tokens" for v in verdicts)


def test_pairwise_model_skips_nan_probabilities(tokenizer):
    from transformers import LlamaForCausalLM

    from sealign.oracles.pairwise import PairwisePreferenceOracle

    model = tiny_llama(tokenizer, LlamaForCausalLM)
    with torch.no_grad():
        model.lm_head.weight.fill_(math.nan)
    for order in ("both", "random"):
        verdicts = PairwisePreferenceOracle(model, tokenizer, order=order).compare(["p"] * 2, ["a", "b"], ["b", "a"])
        assert [v.winner for v in verdicts] == [None, None]


def test_evaluation_leaves_out_prompts_its_judge_cannot_answer(tiny_policy):
    from sealign.eval import WinRateEvaluator
    from sealign.types import Prompt

    class HalfJudge:  # answers "a" for even prompts, nothing for odd ones
        name = "half"

        def compare(self, prompts, a, b, keys=None):
            return [Verdict("a", 1.0) if k % 2 == 0 else Verdict.abstain("down") for k in range(len(prompts))]

    prompts = [Prompt(str(k), p.prompt) for k, p in enumerate(summarize.make_posts(6, seed=1))]
    evaluator = WinRateEvaluator(tiny_policy, prompts, HalfJudge(), greedy=True, temperature=0.0,
                                 max_new_tokens=4, seed=0, reward_fn=flaky_reward)
    result = evaluator.evaluate()
    assert result["eval/win_rate"] == 1.0 and result["eval/skipped"] == 3
    assert math.isfinite(result["eval/reward"]) or math.isnan(result["eval/reward"])  # never inf, never a crash


# ----------------------------------------------------------------------------- the real loop
@pytest.fixture(scope="module")
def tiny_policy_dir(tiny_policy, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-policy")
    tiny_policy.save(path)
    return path


def test_a_run_with_a_flaky_reward_logs_only_real_answers(tmp_path, tiny_policy_dir, monkeypatch):
    from sealign.loop import run

    asked: list[tuple[str, str, str, Verdict]] = []
    compare = BradleyTerrySimulator.compare

    def spy(self, prompts, responses_a, responses_b, keys=None):
        verdicts = compare(self, prompts, responses_a, responses_b, keys)
        if self.name == "bt-simulator":  # the run's oracle, not the evaluation's ground truth
            asked.extend(zip(prompts, responses_a, responses_b, verdicts))
        return verdicts

    monkeypatch.setattr(BradleyTerrySimulator, "compare", spy)
    config = RunConfig(out_dir=str(tmp_path), run_name="flaky", policy=str(tiny_policy_dir),
                       reward_fn="tests.unit.oracles.test_faults:flaky_reward", budget=48, batch_size=8,
                       num_candidates=3, max_new_tokens=8, num_train_prompts=64, num_eval_prompts=8,
                       eval_every=3, micro_batch_size=8, seed=1)
    summary = run(config, log=lambda _: None)

    # Every query was asked once, and the skipped ones are exactly those with an unusable reward.
    assert len(asked) == config.budget
    bad = [(p, a, b) for p, a, b, _ in asked if unusable(p, a) or unusable(p, b)]
    assert 0 < len(bad) < config.budget
    assert all(v.winner is None for p, a, b, v in asked if (p, a, b) in set(bad))
    metrics = read_metrics(tmp_path / "flaky" / "metrics.jsonl")
    assert sum(r.get("answers/skipped", 0) for r in metrics) == len(bad)
    assert max(r["queries"] for r in metrics) == config.budget  # a skipped query is spent too

    # The log holds exactly the answered pairs: no skipped one, none invented, none twice.
    with FeedbackLog(tmp_path / "flaky" / "feedback.sqlite", "flaky") as log:
        logged = log.read()
    good = Counter((p, a, b) for p, a, b, v in asked if v.winner is not None)
    assert Counter((c.prompt.text, c.a.text, c.b.text) for c in logged) == good
    assert all(c.winner in ("a", "b", "tie") and 0.0 <= c.prob_a <= 1.0 for c in logged)
    assert len(logged) == config.budget - len(bad)
    assert summary["queries"] == config.budget  # as the budget and the curve count: the skipped ones too
    evaluations = [r for r in metrics if "eval/win_rate" in r]
    assert evaluations and all("eval/skipped" in r for r in evaluations)
