"""Oracle faults: a query that gets no usable answer is skipped and counted, never logged as a
preference, and never crashes the run.

Where each fault is tested:

| fault | test |
|---|---|
| judge: timeout, HTTP 429 / 5xx (retried with backoff), malformed JSON | tests/unit/oracles/test_judge.py |
| judge: unparseable verdict, failures beyond the retries -> skipped | tests/unit/oracles/test_judge.py |
| judge: wrong key / URL (401/403/404) -> one-line error at once | tests/unit/oracles/test_judge.py |
| a rater who never answers -> skipped, pair taken off the screens | tests/unit/server/test_human_queue.py |
| NaN / inf / None from a reward_fn (bt-simulator) -> skipped | here |
| NaN from a reward model / a pairwise model -> skipped | here |
| an evaluation judge that cannot answer -> prompt left out of the win rate | here |
| all of it in the real loop: log holds only real answers, skipped count exact | tests/integration/test_oracles.py |
"""

from __future__ import annotations

import math
import zlib

import pytest
import torch

from sealign.errors import UserError
from sealign.oracles.base import Verdict
from sealign.oracles.simulator import BradleyTerrySimulator
from sealign.tasks import summarize
from sealign.tasks.summarize import prompt_reward

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
    from sealign.records.types import Prompt
    from sealign.run.eval import WinRateEvaluator

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
