"""Chat templates end to end: a templated prompt's exact token ids reach the learner, responses are
decoded without special tokens, and the oracle sees plain text."""

import pytest
import torch

from sealign.config import RunConfig
from sealign.exploration.base import queries_of
from sealign.learning.learner import PreferenceLearner
from sealign.oracles.rule import RuleOracle
from sealign.policy.builtin import train_tokenizer
from sealign.policy.hf import HFPolicy
from sealign.records.types import PreferenceBatch, Prompt
from sealign.run.actor import Actor
from sealign.run.collect import ask
from sealign.tasks import summarize

# No newlines in the template, so the expected ids can be written down token by token.
TEMPLATE = ("{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}")


@pytest.fixture(scope="module")
def chat_policy():
    from transformers import LlamaConfig, LlamaForCausalLM

    posts = summarize.make_posts(100, seed=5)
    tokenizer = train_tokenizer([p.prompt for p in posts], 200)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|user|>", "<|end|>", "<|assistant|>"]})
    tokenizer.chat_template = TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    return HFPolicy(LlamaForCausalLM(config), tokenizer, device="cpu")


def test_the_templated_prompt_ids_reach_the_learner_and_the_oracle_sees_plain_text(chat_policy, monkeypatch):
    tokenizer = chat_policy.tokenizer
    special = {name: tokenizer.convert_tokens_to_ids(name) for name in ("<|user|>", "<|end|>", "<|assistant|>")}
    text = "i went hiking in oslo"
    expected = ([special["<|user|>"]] + tokenizer(text, add_special_tokens=False)["input_ids"]
                + [special["<|end|>"], special["<|assistant|>"]])
    prompt = Prompt("p0", text)

    candidates = Actor(chat_policy, 2, 1.0, 1.0, 8, seed=0).sample([prompt], step=0)
    assert [c.prompt_ids for c in candidates[0]] == [expected, expected]
    for candidate in candidates[0]:  # decoded without special tokens
        assert candidate.text == tokenizer.decode(candidate.token_ids, skip_special_tokens=True).strip()
        assert "<|" not in candidate.text and "<s>" not in candidate.text

    first, second = (c.text for c in candidates[0])
    assert first != second  # the fixed seed samples two different texts, so the oracle never ties
    seen = []
    oracle = RuleOracle(lambda p, r: seen.append((p, r)) or float(r == first))  # the first sample wins
    comparisons, skipped = ask(oracle, queries_of(candidates, [(0, 1)]), step=0, run_id="chat")
    assert seen[0][0] == text  # the oracle gets the plain prompt, not the template
    assert all("<|" not in response for _, response in seen)

    scored = []
    original = chat_policy.sequence_logprobs

    def spy(prompt_ids, response_ids, model=None):
        scored.append((prompt_ids, response_ids))
        return original(prompt_ids, response_ids, model=model)

    monkeypatch.setattr(chat_policy, "sequence_logprobs", spy)
    batch = PreferenceBatch.from_comparisons(comparisons)
    assert len(batch) == 1 and batch.chosen_ids == [candidates[0][0].token_ids]
    PreferenceLearner(chat_policy, RunConfig(lr=1e-3)).step(batch)
    assert scored and all(ids == expected for prompt_ids, _ in scored for ids in prompt_ids)
    sampled = {tuple(c.token_ids) for c in candidates[0]}
    assert all(tuple(r) in sampled for _, responses in scored for r in responses)
