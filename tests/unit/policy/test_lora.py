"""LoRA through peft: only adapters train, the reference is the base model (no copy), DPO steps
reduce the loss, adapters travel alone, and a saved LoRA policy loads back."""

from __future__ import annotations

import sys

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import ConfigError, UserError
from sealign.learning.learner import PreferenceLearner
from sealign.policy import load_policy
from sealign.policy.hf import HFPolicy
from sealign.records.types import PreferenceBatch

pytest.importorskip("peft")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def base_dir(tiny_policy, tmp_path_factory):
    """The session's tiny random Llama, saved: LoRA policies are loaded from a folder, as in a run."""
    path = tmp_path_factory.mktemp("tiny-base")
    tiny_policy.save(path)
    return path


def lora_config(**overrides) -> RunConfig:
    values = {"lora_r": 4, "lora_alpha": 8, "lr": 2e-2, "warmup_steps": 1, "micro_batch_size": 8,
              "max_new_tokens": 6, "device": "cpu"}
    return RunConfig(**{**values, **overrides})


def make_batch(policy: HFPolicy) -> PreferenceBatch:
    prompts = policy.encode_prompts(["the cat sat on the mat", "a dog ran home", "rain fell all day"])
    chosen = policy.encode_responses(["cat sat", "dog ran home", "rain"])
    rejected = policy.encode_responses(["the the the", "home", "fell all day long"])
    return PreferenceBatch(prompts, chosen, rejected)


def logps(policy: HFPolicy, batch: PreferenceBatch, model=None) -> torch.Tensor:
    with torch.no_grad():
        return policy.sequence_logprobs(batch.prompt_ids, batch.chosen_ids, model=model)[0]


def test_only_adapters_train_and_dpo_steps_reduce_the_loss(base_dir):
    policy = load_policy(lora_config(), str(base_dir))
    assert policy.is_lora
    trainable = {n for n, p in policy.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in policy.model.named_parameters()}
    batch = make_batch(policy)
    learner = PreferenceLearner(policy, lora_config())
    losses = [learner.step(batch)["loss"] for _ in range(8)]
    assert losses[-1] < losses[0] - 0.05, losses
    changed = {n for n, p in policy.model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert changed <= trainable, f"base weights changed: {sorted(changed - trainable)[:3]}"
    assert any("lora_B" in n for n in changed)  # B starts at zero: the adapters really moved


def test_reference_is_the_base_model_with_adapters_disabled(base_dir, tiny_policy):
    policy = load_policy(lora_config(), str(base_dir))
    batch = make_batch(policy)
    initial = logps(tiny_policy, batch)
    assert torch.allclose(logps(policy, batch), initial, atol=1e-5)  # B = 0: LoRA starts as the base model
    learner = PreferenceLearner(policy, lora_config())
    for _ in range(4):
        learner.step(batch)
    # No second copy: the reference holds no tensors of its own, it is the same network.
    assert learner.reference.model is policy.model
    assert not hasattr(learner.reference, "parameters")
    assert torch.allclose(logps(policy, batch, model=learner.reference), initial, atol=1e-5)
    assert not torch.allclose(logps(policy, batch), initial, atol=1e-3)
    # Generation from the reference samples the base model too (greedy, so comparable).
    assert (policy.generate(batch.prompt_ids, temperature=0, max_new_tokens=5, model=learner.reference)
            == tiny_policy.generate(batch.prompt_ids, temperature=0, max_new_tokens=5))


def test_published_adapters_reproduce_the_policy_and_saved_policy_loads_back(base_dir, tmp_path):
    trained = load_policy(lora_config(), str(base_dir))
    batch = make_batch(trained)
    learner = PreferenceLearner(trained, lora_config())
    for _ in range(3):
        learner.step(batch)
    state = trained.trainable_state()
    assert state and all("lora_" in name for name in state)
    base_numel = sum(p.numel() for p in trained.model.parameters())
    assert sum(t.numel() for t in state.values()) < base_numel / 5  # only adapters travel to the actors
    actor_copy = load_policy(lora_config(), str(base_dir))
    actor_copy.load_trainable_state(state)
    assert torch.allclose(logps(actor_copy, batch), logps(trained, batch), atol=1e-6)

    trained.save(tmp_path / "policy")
    assert (tmp_path / "policy" / "adapter_config.json").exists()
    reloaded = HFPolicy.from_pretrained(str(tmp_path / "policy"), "cpu")  # adapters merged on load
    assert not reloaded.is_lora
    assert torch.allclose(logps(reloaded, batch), logps(trained, batch), atol=1e-4)


def test_bad_lora_settings_are_one_line_errors(base_dir, monkeypatch):
    with pytest.raises(ConfigError, match="cannot add LoRA adapters"):
        load_policy(lora_config(lora_targets="no_such_proj"), str(base_dir))
    with pytest.raises(ConfigError, match="names no module"):
        load_policy(lora_config(lora_targets=" , "), str(base_dir))
    with pytest.raises(ConfigError, match="lora_r must be >= 0"):
        lora_config(lora_r=-1).validate()
    monkeypatch.setitem(sys.modules, "peft", None)  # as if the extra were not installed
    with pytest.raises(UserError, match="needs the lora extra"):
        load_policy(lora_config(), str(base_dir))


def test_sync_reference_is_refused_with_lora(base_dir):
    policy = load_policy(lora_config(), str(base_dir))
    learner = PreferenceLearner(policy, lora_config())
    with pytest.raises(UserError, match="frozen base model"):
        learner.sync_reference()


def test_features_of_the_initial_lora_policy_run_the_backbone_once_without_the_lm_head(base_dir, tiny_policy):
    from sealign.exploration.features import BackboneFeatures
    from sealign.records.types import Candidate

    policy = load_policy(lora_config(), str(base_dir))
    learner = PreferenceLearner(policy, lora_config())
    batch = make_batch(policy)
    for _ in range(4):
        learner.step(batch)  # the adapters move: the features must still be the initial policy's
    candidates = [Candidate(None, p, r, "") for p, r in zip(batch.prompt_ids, batch.chosen_ids)]
    head_calls = []
    hook = policy.model.get_base_model().lm_head.register_forward_hook(lambda *_: head_calls.append(1))
    try:
        features = BackboneFeatures(policy.frozen_copy(), policy.pad_id)(candidates)
    finally:
        hook.remove()
    assert head_calls == []  # no [B, T, vocab] logits, and one forward instead of two
    expected = BackboneFeatures(tiny_policy.model, tiny_policy.pad_id)(candidates)
    assert torch.allclose(features, expected, atol=1e-5)
