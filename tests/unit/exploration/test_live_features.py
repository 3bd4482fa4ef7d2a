"""``explore_features='live'``: the learning policy's own hidden states, taken from the sampling pass."""

from __future__ import annotations

import copy

import pytest
import torch

from sealign.exploration.features import LiveFeatures, rms_normalize
from sealign.policy.hf import HFPolicy
from sealign.records.types import Candidate, Prompt
from sealign.run.actor import Actor

torch.set_num_threads(1)

TEXTS = ["the cat sat on the mat", "a dog ran home", "rain"]


@pytest.fixture(scope="module")
def stopping_policy(tiny_policy):
    """The tiny random policy with its EOS logit raised near the mean hidden state, so that its
    responses stop at many different lengths (1 token to the limit) instead of all running out."""
    model = copy.deepcopy(tiny_policy.model)
    with torch.no_grad():
        ids = torch.tensor([tiny_policy.encode_prompts([" ".join(TEXTS)])[0]])
        mean_state = model.model(input_ids=ids).last_hidden_state[0].mean(0)
        model.lm_head.weight[tiny_policy.eos_id] = mean_state * (5.0 / mean_state.dot(mean_state))
    return HFPolicy(model, tiny_policy.tokenizer, device="cpu")


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_sampling_pass_features_equal_a_separate_pass_over_the_same_responses(stopping_policy, pooling):
    policy = stopping_policy
    prompts = policy.encode_prompts(TEXTS)
    settings = dict(n=4, temperature=1.0, max_new_tokens=10, seeds=[1, 2, 3])
    responses, features = policy.generate_with_features(prompts, pooling=pooling, **settings)
    assert responses == policy.generate(prompts, **settings)  # asking for features changes no sample
    lengths = {len(r) for group in responses for r in group}
    assert 1 in lengths and 10 in lengths and len(lengths) >= 3  # stopped early, late, and in between
    assert features.shape == (3, 4, policy.model.config.hidden_size)
    flat_prompts = [p for p, group in zip(prompts, responses) for _ in group]
    flat_responses = [r for group in responses for r in group]
    separate = policy.pooled_hidden_states(flat_prompts, flat_responses, policy.model, pooling)
    assert torch.allclose(features.view(12, -1), separate, atol=1e-5)


def test_the_actor_attaches_features_to_policy_samples_only(stopping_policy):
    prompts = [Prompt(f"p{i}", t) for i, t in enumerate(TEXTS)]
    actor = Actor(stopping_policy, num_candidates=3, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=0,
                  reference_candidates=1, reference=stopping_policy.model, feature_pooling="mean")
    plain = Actor(stopping_policy, num_candidates=3, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=0,
                  reference_candidates=1, reference=stopping_policy.model)
    with_features, without = actor.sample(prompts, step=0), plain.sample(prompts, step=0)
    assert [[c.token_ids for c in g] for g in with_features] == [[c.token_ids for c in g] for g in without]
    for group in with_features:
        assert all(c.features is not None and c.features.shape == (32,) for c in group[:2])
        assert group[2].features is None  # sampled from the reference: featurised later by the live policy
    assert all(c.features is None for group in without for c in group)


def test_live_features_use_attached_states_and_compute_the_rest_with_the_current_policy(stopping_policy):
    policy = stopping_policy
    live = LiveFeatures(policy, "mean")
    prompt = Prompt("p", TEXTS[0])
    prompt_ids = policy.encode_prompts([prompt.text])[0]
    responses = [policy.encode_responses([t])[0] for t in ["cat sat", "the mat", "on the mat"]]
    attached = torch.randn(32)
    candidates = [Candidate(prompt, prompt_ids, responses[0], "cat sat", attached),
                  Candidate(prompt, prompt_ids, responses[1], "the mat"),
                  Candidate(prompt, prompt_ids, responses[2], "on the mat")]
    calls = []
    compute = live.current.__call__
    live.current = lambda cs: calls.append(len(cs)) or compute(cs)
    features = live(candidates)
    assert calls == [2]  # one pass, for the two candidates that came without features
    assert torch.allclose(features[0], rms_normalize(attached))
    separate = policy.pooled_hidden_states([prompt_ids] * 2, responses[1:], policy.model, "mean")
    assert torch.allclose(features[1:], rms_normalize(separate), atol=1e-5)
    assert live(candidates[:1]).shape == (1, 32) and calls == [2]  # all attached: no pass at all


def test_a_model_whose_head_cannot_be_split_samples_the_same_without_features(stopping_policy, monkeypatch):
    from sealign.policy import decode

    monkeypatch.setattr(decode, "split_head", lambda model: None)  # e.g. Gemma 2's soft-capped logits
    prompts = stopping_policy.encode_prompts(TEXTS)
    settings = dict(n=2, max_new_tokens=6, seeds=[4, 5, 6])
    responses, features = stopping_policy.generate_with_features(prompts, **settings)
    assert features is None and responses == stopping_policy.generate(prompts, **settings)
    actor = Actor(stopping_policy, num_candidates=2, temperature=1.0, top_p=1.0, max_new_tokens=6, seed=0,
                  feature_pooling="mean")
    assert all(c.features is None for group in actor.sample([Prompt("p", TEXTS[0])], step=0) for c in group)
