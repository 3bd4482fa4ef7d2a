"""--gradient-checkpointing: the same log-probabilities, gradients and learner steps as without it."""

from __future__ import annotations

import copy

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import UserError
from sealign.learning.learner import PreferenceLearner
from sealign.policy import anatomy, load_policy
from sealign.policy.anatomy import LEAN_HEAD_MIN_VOCAB, unwrap
from sealign.policy.hf import HFPolicy
from sealign.records.types import PreferenceBatch

torch.set_num_threads(1)


def with_vocabulary(tiny_policy, vocab_size: int) -> HFPolicy:
    """The session's tiny policy, or a fresh one of the same shape with a larger (partly unused) vocabulary."""
    if vocab_size == tiny_policy.model.config.vocab_size:
        return HFPolicy(copy.deepcopy(tiny_policy.model), tiny_policy.tokenizer, device="cpu")
    from transformers import LlamaForCausalLM

    config = copy.deepcopy(tiny_policy.model.config)
    config.vocab_size = vocab_size
    torch.manual_seed(1)
    return HFPolicy(LlamaForCausalLM(config), tiny_policy.tokenizer, device="cpu")


def batch_of(policy: HFPolicy) -> PreferenceBatch:
    prompts = policy.encode_prompts(["the cat sat on the mat", "a dog ran home", "rain fell all day"])
    chosen = policy.encode_responses(["cat sat", "dog ran home", "rain"])
    rejected = policy.encode_responses(["the the the", "home", "fell all day long"])
    return PreferenceBatch(prompts, chosen, rejected)


@pytest.mark.parametrize("large_vocabulary", [False, True], ids=["one-pass head", "lean head"])
def test_checkpointed_scores_and_gradients_equal_the_shared_prompt_path(tiny_policy, large_vocabulary):
    vocab = LEAN_HEAD_MIN_VOCAB + 8 if large_vocabulary else tiny_policy.model.config.vocab_size
    plain = with_vocabulary(tiny_policy, vocab)
    checkpointed = HFPolicy(copy.deepcopy(plain.model), plain.tokenizer, device="cpu")
    checkpointed.enable_gradient_checkpointing()
    batch = batch_of(plain)
    prompts, responses = batch.prompt_ids + batch.prompt_ids, batch.chosen_ids + batch.rejected_ids
    results = []
    for policy in (plain, checkpointed):
        policy.model.train()
        logps, lengths = policy.sequence_logprobs(prompts, responses)
        (logps * torch.arange(1.0, len(logps) + 1)).sum().backward()
        results.append((logps.detach(), lengths, [p.grad.clone() for p in policy.model.parameters()]))
    assert anatomy.checkpointing(checkpointed.model) and not anatomy.checkpointing(plain.model)
    torch.testing.assert_close(results[1][0], results[0][0], atol=1e-5, rtol=1e-5)
    assert torch.equal(results[1][1], results[0][1])
    for got, want in zip(results[1][2], results[0][2]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_checkpointing_is_inactive_without_gradients_or_outside_training(tiny_policy):
    policy = with_vocabulary(tiny_policy, tiny_policy.model.config.vocab_size)
    policy.enable_gradient_checkpointing()
    policy.model.train()
    with torch.no_grad():
        assert not anatomy.checkpointing(policy.model)
    policy.model.eval()
    assert not anatomy.checkpointing(policy.model)


def test_a_learner_step_with_checkpointing_moves_the_weights_as_without(tiny_policy_folder):
    updated = []
    for checkpointing in (False, True):
        config = RunConfig(lr=1e-2, warmup_steps=1, micro_batch_size=2, device="cpu",
                           gradient_checkpointing=checkpointing).validate()
        policy = load_policy(config, str(tiny_policy_folder))
        assert anatomy.checkpointing(policy.model) is False  # loaded in eval mode; the learner trains it
        learner = PreferenceLearner(policy, config)
        metrics = learner.step(batch_of(policy))
        assert torch.isfinite(torch.tensor(metrics["loss"]))
        updated.append([p.detach().clone() for p in policy.model.parameters()])
    for got, want in zip(updated[1], updated[0]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_lora_with_checkpointing_trains_its_adapters(tiny_policy_folder):
    pytest.importorskip("peft")
    config = RunConfig(lr=1e-2, warmup_steps=1, micro_batch_size=2, device="cpu", lora_r=4,
                       gradient_checkpointing=True).validate()
    policy = load_policy(config, str(tiny_policy_folder))
    before = {n: p.detach().clone() for n, p in policy.model.named_parameters() if p.requires_grad}
    PreferenceLearner(policy, config).step(batch_of(policy))
    moved = [n for n, p in policy.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert moved and all("lora_" in n for n in moved)


def test_a_model_without_checkpointing_is_refused_with_the_fix(tiny_policy):
    policy = with_vocabulary(tiny_policy, tiny_policy.model.config.vocab_size)
    unwrap(policy.model).supports_gradient_checkpointing = False
    with pytest.raises(UserError, match="--gradient-checkpointing"):
        policy.enable_gradient_checkpointing()
