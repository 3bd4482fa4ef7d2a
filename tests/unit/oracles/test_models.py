"""Model oracles (reward-model, pairwise) on tiny Llamas built here, saved to disk and loaded by path."""

from __future__ import annotations

import math

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import ConfigError
from sealign.oracles import build_oracle
from sealign.oracles.pairwise import PairwisePreferenceOracle
from sealign.oracles.reward_model import RewardModelOracle
from sealign.tasks import summarize

torch.set_num_threads(1)

CHAT_TEMPLATE = ("{% for m in messages %}<s> {{ m['role'] }} : {{ m['content'] }} </s>{% endfor %}"
                 "{% if add_generation_prompt %}<s> assistant :{% endif %}")


@pytest.fixture(scope="module")
def tokenizer():
    from sealign.policy.builtin import train_tokenizer

    posts = summarize.make_posts(120, seed=5)
    texts = [p.prompt for p in posts] + [summarize.ideal_summary(p) for p in posts]
    texts += ["[CONTEXT] [RESPONSE A] [RESPONSE B] A B user assistant :"] * 20
    return train_tokenizer(texts, 260)


def llama_config(tokenizer, **kwargs):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, **kwargs)


def save(model, tokenizer, path, chat_template=None):
    tokenizer.chat_template = chat_template
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def reward_model_path(tokenizer, tmp_path_factory):
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(0)
    model = LlamaForSequenceClassification(llama_config(tokenizer, num_labels=1))
    return save(model, tokenizer, tmp_path_factory.mktemp("rm"))


@pytest.fixture(scope="module")
def pairwise_path(tokenizer, tmp_path_factory):
    from transformers import LlamaForCausalLM

    torch.manual_seed(1)
    return save(LlamaForCausalLM(llama_config(tokenizer)), tokenizer, tmp_path_factory.mktemp("pm"))


def texts(n=5, seed=0):
    posts = summarize.make_posts(n, seed)
    # Very different lengths in one batch: padding must not change any score.
    return ([p.prompt for p in posts], [summarize.ideal_summary(p) for p in posts],
            ["ok ."] + [summarize.ideal_summary(p) + " really really kind of" for p in posts[1:]])


def test_reward_model_loaded_by_path_scores_like_one_unpadded_forward(reward_model_path):
    oracle = build_oracle("reward-model", RunConfig(oracle_model=reward_model_path, oracle_batch_size=3,
                                                    oracle_temperature=0.5, oracle_deterministic=True))
    prompts, a, b = texts()
    rewards, lengths = oracle.score(prompts + prompts, a + b)
    for k, (p, r) in enumerate(zip(prompts + prompts, a + b)):
        ids = torch.tensor([oracle.tokenizer(p, r)["input_ids"]])
        assert lengths[k] == ids.shape[1]
        assert rewards[k] == pytest.approx(oracle.model(input_ids=ids).logits[0, 0].item(), abs=1e-5)
    verdicts = oracle.compare(prompts, a, b)
    for k, v in enumerate(verdicts):
        expected = 1 / (1 + math.exp(-(rewards[k] - rewards[5 + k]) / 0.5))
        assert v.prob_a == pytest.approx(expected)
        assert v.winner == ("a" if expected > 0.5 else "b")
        assert v.cost == lengths[k] + lengths[5 + k] and v.cost_unit == "tokens"


def test_reward_model_sampling_is_seeded_and_follows_bradley_terry(reward_model_path):
    def run(seed):
        oracle = build_oracle("reward-model", RunConfig(oracle_model=reward_model_path, oracle_temperature=0.01,
                                                        seed=seed))
        return oracle.compare(*[x * 20 for x in texts()])

    first, again = run(3), run(3)
    assert [v.winner for v in first] == [v.winner for v in again]
    for v in first:  # probabilities this sharp leave the sample no choice
        if abs(v.prob_a - 0.5) > 0.49:
            assert v.winner == ("a" if v.prob_a > 0.5 else "b")


def test_reward_model_applies_the_chat_template(tokenizer, tmp_path):
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(0)
    model = LlamaForSequenceClassification(llama_config(tokenizer, num_labels=1))
    oracle = RewardModelOracle.from_pretrained(save(model, tokenizer, tmp_path, CHAT_TEMPLATE))
    ids = oracle.encode("post : hi tl;dr :", "hiking in oslo")
    expected = "<s> user : post : hi tl;dr : </s><s> assistant : hiking in oslo </s>"
    assert oracle.tokenizer.decode(ids).split() == expected.split()
    assert len(oracle.compare(["post : x tl;dr :"], ["a"], ["b"])) == 1


def test_reward_model_refuses_bad_models(tokenizer, tmp_path):
    from transformers import LlamaForSequenceClassification

    with pytest.raises(ConfigError, match="--oracle-model"):
        build_oracle("reward-model", RunConfig())
    with pytest.raises(ConfigError, match="no config.json"):
        build_oracle("reward-model", RunConfig(oracle_model=str(tmp_path)))
    path = save(LlamaForSequenceClassification(llama_config(tokenizer, num_labels=3)), tokenizer, tmp_path / "c")
    with pytest.raises(ConfigError, match="num_labels=1"):
        build_oracle("reward-model", RunConfig(oracle_model=path))


def test_pairwise_probability_is_read_from_the_next_token_after_the_formatted_pair(pairwise_path):
    oracle = build_oracle("pairwise", RunConfig(oracle_model=pairwise_path, pairwise_order="random",
                                                oracle_batch_size=2))
    prompts, a, b = texts()
    probs, tokens = oracle.prob_first_wins(prompts, a, b)
    id_a, id_b = oracle.label_ids
    for k in range(len(prompts)):
        text = f"[CONTEXT] {prompts[k]} [RESPONSE A] {a[k]} [RESPONSE B] {b[k]} \n"
        ids = torch.tensor([oracle.tokenizer(text)["input_ids"]])
        assert tokens[k] == ids.shape[1]
        logits = oracle.model(input_ids=ids).logits[0, -1]
        p_a, p_b = logits.softmax(-1)[[id_a, id_b]].tolist()
        assert probs[k] == pytest.approx(p_a / (p_a + p_b), abs=1e-5)


def test_pairwise_both_orders_is_antisymmetric_and_random_order_is_one_of_them(pairwise_path):
    config = RunConfig(oracle_model=pairwise_path, oracle_deterministic=True)
    both = build_oracle("pairwise", config)
    prompts, a, b = texts()
    forward, backward = both.compare(prompts, a, b), both.compare(prompts, b, a)
    for f, r in zip(forward, backward):
        assert f.prob_a + r.prob_a == pytest.approx(1.0)
    p_ab, _ = both.prob_first_wins(prompts, a, b)
    p_ba, _ = both.prob_first_wins(prompts, b, a)
    single = build_oracle("pairwise", RunConfig(oracle_model=pairwise_path, pairwise_order="random", seed=4))
    for k, v in enumerate(single.compare(prompts * 4, a * 4, b * 4)):
        i = k % len(prompts)
        assert min(abs(v.prob_a - p_ab[i]), abs(v.prob_a - (1 - p_ba[i]))) < 1e-5


def test_pairwise_cancels_a_pure_position_bias(tokenizer, tmp_path):
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM(llama_config(tokenizer))
    oracle = PairwisePreferenceOracle(model, tokenizer, deterministic=True)
    with torch.no_grad():
        model.lm_head.weight.zero_()  # every logit 0, whatever the model reads ...
    prefer_a = torch.zeros(len(tokenizer))
    prefer_a[oracle.label_ids[0]] = 5.0  # ... but "A" always far likelier: pure position bias
    model.lm_head.register_forward_hook(lambda module, inputs, out: out + prefer_a)
    prompts, a, b = texts(3)
    assert [(v.winner, v.prob_a) for v in oracle.compare(prompts, a, b)] == [("tie", 0.5)] * 3
    biased = PairwisePreferenceOracle(model, tokenizer, order="random", deterministic=True, seed=0)
    assert {v.winner for v in biased.compare(prompts * 5, a * 5, b * 5)} == {"a", "b"}


def test_pairwise_needs_single_label_tokens(tmp_path):
    from transformers import LlamaForCausalLM

    from sealign.policy.builtin import train_tokenizer

    lowercase = train_tokenizer(["just some lowercase words here"] * 10, 40)
    with pytest.raises(ConfigError, match="no single token for 'A'"):
        PairwisePreferenceOracle(LlamaForCausalLM(llama_config(lowercase)), lowercase)
