"""The CPU bf16 attention (sealign/policy/attention.py) and merged LoRA weights while sampling
(sealign/policy/lora.py ``adapters_merged``): the same mathematics as what they replace."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from sealign.policy import hardware
from sealign.policy.anatomy import unwrap
from sealign.policy.attention import ATTENTION_NAME, _grouped_attention, cpu_bf16_attention
from sealign.policy.hf import HFPolicy

torch.set_num_threads(1)
needs_onednn_bf16 = pytest.mark.skipif(
    not hardware.onednn_bf16(), reason="this CPU has no oneDNN bf16 kernels (avx512bw/vl/dq): the policy keeps SDPA; "
                                       "test_without_onednn_bf16_a_bf16_policy_keeps_sdpa covers it")


def reference_attention(query, key, value, keep):
    """SDPA over the key/value heads repeated for their query groups -> ``[B, T, H, D]``."""
    groups = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
    if keep is None:
        return F.scaled_dot_product_attention(query, key, value, is_causal=True).transpose(1, 2)
    return F.scaled_dot_product_attention(query, key, value, attn_mask=keep).transpose(1, 2)


@pytest.mark.parametrize("heads,kv_heads,q_len,cached", [(6, 2, 5, 0), (6, 2, 1, 9), (4, 4, 3, 2), (6, 3, 4, 3)])
def test_grouped_attention_equals_sdpa_with_repeated_heads(heads, kv_heads, q_len, cached):
    torch.manual_seed(0)
    batch, dim, kv_len = 3, 8, q_len + cached
    query = torch.randn(batch, heads, q_len, dim, requires_grad=True)
    key = torch.randn(batch, kv_heads, kv_len, dim, requires_grad=True)
    value = torch.randn(batch, kv_heads, kv_len, dim, requires_grad=True)
    keep = torch.ones(batch, 1, q_len, kv_len, dtype=torch.bool).tril(cached)
    keep[0, :, :, :2] = False  # the first row is left-padded by two tokens
    keep[0, :, :, 2] = True
    for mask in (keep, None if cached == 0 else keep):
        ours = _grouped_attention(query, key, value, mask, None, causal=True)
        expected = reference_attention(query, key, value, mask)
        assert ours.shape == (batch, q_len, heads, dim)
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
        grads = torch.autograd.grad(ours.square().sum(), (query, key, value))
        expected_grads = torch.autograd.grad(expected.square().sum(), (query, key, value))
        for got, want in zip(grads, expected_grads):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_a_query_that_may_attend_to_nothing_gets_no_nan():
    query, key, value = (torch.randn(1, 2, 3, 4, requires_grad=True) for _ in range(3))
    keep = torch.tensor([[False, False, False], [True, False, False], [True, True, False]])[None, None]
    out = _grouped_attention(query, key, value, keep, None, causal=True)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(query.grad).all() and torch.isfinite(key.grad).all()


def test_float32_goes_to_sdpa_unchanged(tiny_policy):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    module = unwrap(tiny_policy.model).model.layers[0].self_attn
    query, key, value = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8)
    keep = torch.ones(2, 1, 5, 5, dtype=torch.bool).tril()
    ours, _ = cpu_bf16_attention(module, query, key, value, keep, scaling=0.3)
    expected, _ = sdpa_attention_forward(module, query, key, value, keep, scaling=0.3)
    assert torch.equal(ours, expected)


def bf16_policy(tiny_policy):
    import copy

    return HFPolicy(copy.deepcopy(tiny_policy.model), tiny_policy.tokenizer, device="cpu", mixed_precision="bf16")


@needs_onednn_bf16
def test_a_bf16_policy_on_the_cpu_runs_the_grouped_attention_and_scores_like_sdpa(tiny_policy, tmp_path):
    policy = bf16_policy(tiny_policy)
    assert unwrap(policy.model).config._attn_implementation == ATTENTION_NAME
    prompts = policy.encode_prompts(["the cat sat on the mat", "a dog"])  # two lengths: left padding
    responses = policy.encode_responses(["cat sat", "dog ran home fast"])
    ours = policy.sequence_logprobs(prompts, responses)[0]
    ours.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in policy.model.parameters() if p.grad is not None)
    with torch.no_grad():
        unwrap(policy.model).set_attn_implementation("sdpa")
        sdpa = policy.sequence_logprobs(prompts, responses)[0]
        policy.mixed_precision = "no"
        exact = policy.sequence_logprobs(prompts, responses)[0]
    tokens = torch.tensor([len(r) for r in responses], dtype=torch.float32)
    assert ((ours.detach() - exact).abs() / tokens).max() < 0.05
    assert ((ours.detach() - sdpa).abs() / tokens).max() < 0.05
    # a saved policy names no attention of sealign's: it loads anywhere
    unwrap(policy.model).set_attn_implementation(ATTENTION_NAME)
    policy.save(tmp_path / "saved")
    assert ATTENTION_NAME not in json.dumps(json.loads((tmp_path / "saved" / "config.json").read_text()))


def test_without_onednn_bf16_a_bf16_policy_keeps_sdpa(tiny_policy, monkeypatch, caplog):
    prompts = tiny_policy.encode_prompts(["the cat sat on the mat", "a dog"])
    responses = tiny_policy.encode_responses(["cat sat", "dog ran home fast"])
    with torch.no_grad():
        sdpa = bf16_policy(tiny_policy)
        unwrap(sdpa.model).set_attn_implementation("sdpa")  # the plain path, chosen by hand
        expected = sdpa.sequence_logprobs(prompts, responses)[0]
        monkeypatch.setenv(hardware.FORCE_VARIABLE, "bf16")
        monkeypatch.setattr(hardware, "_warned", set())
        caplog.clear()  # a CPU really without bf16 has already warned while building the first policy
        policies = [bf16_policy(tiny_policy) for _ in range(2)]
        assert all(unwrap(p.model).config._attn_implementation == "sdpa" for p in policies)
        assert policies[0].mixed_precision == "bf16"  # still asked for: emulated, and said so
        assert torch.equal(policies[0].sequence_logprobs(prompts, responses)[0], expected)
    assert [len(g) for g in policies[1].generate(prompts, n=2, max_new_tokens=5, seeds=[1, 2])] == [2, 2]
    warnings = [r.getMessage() for r in caplog.records if r.name == "sealign.hardware"]
    assert len(warnings) == 2, warnings  # one per fallback (attention; bf16 emulated), not one per policy
    assert any("keeps SDPA" in w for w in warnings) and any("slower than float32" in w for w in warnings)


def test_a_bf16_policy_samples_with_the_grouped_attention(tiny_policy):
    policy = bf16_policy(tiny_policy)
    prompts = policy.encode_prompts(["the cat sat on the mat", "a dog"])
    responses = policy.generate(prompts, n=3, max_new_tokens=6, seeds=[1, 2])
    assert [len(group) for group in responses] == [3, 3]
    assert all(1 <= len(r) <= 6 for group in responses for r in group)


def lora_policy(tiny_policy, mixed_precision: str = "no"):
    import copy

    from sealign.policy.lora import add_lora

    policy = HFPolicy(copy.deepcopy(tiny_policy.model), tiny_policy.tokenizer, device="cpu",
                      mixed_precision=mixed_precision)
    policy.model = add_lora(policy.model, r=4, alpha=8, dropout=0.0, targets="all-linear", seed=0)
    with torch.no_grad():  # trained adapters: B no longer zero
        for name, param in policy.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.2)
    return policy


@pytest.fixture
def peft_policy(tiny_policy):
    pytest.importorskip("peft")
    return lora_policy(tiny_policy)


def test_sampling_with_merged_adapters_computes_what_the_adapters_compute(peft_policy):
    from sealign.policy.lora import adapters_merged

    policy = peft_policy
    ids = torch.tensor([policy.encode_prompts(["the cat sat on the mat"])[0]])
    base_weights = {name: p.detach().clone() for name, p in policy.model.named_parameters()}
    with torch.no_grad():
        adapted = policy.model(input_ids=ids).logits
        with adapters_merged(policy.model) as merged:
            assert merged
            inside = policy.model(input_ids=ids).logits
        after = policy.model(input_ids=ids).logits
        with policy.model.disable_adapter():
            base = policy.model(input_ids=ids).logits
    torch.testing.assert_close(inside, adapted, atol=1e-5, rtol=1e-5)
    assert (adapted - base).abs().max() > 1e-2  # the adapters matter here
    assert torch.equal(after, adapted)
    for name, param in policy.model.named_parameters():  # the very same tensors as before, unchanged
        assert torch.equal(param, base_weights[name]), name


def test_a_lora_policy_samples_the_same_responses_with_its_adapters_merged(peft_policy):
    from sealign.policy.lora import adapters_merged

    policy = peft_policy  # float32: the merged product equals the three to rounding
    prompts = policy.encode_prompts(["the cat sat on the mat", "a dog", "rain fell"])
    with adapters_merged(policy.model):
        merged = policy.generate(prompts, n=2, max_new_tokens=8, seeds=[3, 4, 5])
    assert merged == policy.generate(prompts, n=2, max_new_tokens=8, seeds=[3, 4, 5])


def test_adapters_are_merged_for_sampling_under_bf16_only_and_never_for_the_reference(tiny_policy):
    import contextlib

    pytest.importorskip("peft")
    fp32, bf16 = lora_policy(tiny_policy), lora_policy(tiny_policy, "bf16")
    assert isinstance(fp32.sampling_weights(None), contextlib.nullcontext)
    assert isinstance(bf16.sampling_weights(bf16.frozen_copy()), contextlib.nullcontext)
    with bf16.sampling_weights(None) as merged:
        assert merged
        linear = next(m for m in bf16.model.modules() if hasattr(m, "base_layer")).base_layer
        assert linear.weight.dtype == torch.bfloat16 and not linear.weight.requires_grad
    prompts = bf16.encode_prompts(["the cat sat on the mat", "a dog"])
    assert [len(g) for g in bf16.generate(prompts, n=2, max_new_tokens=5, seeds=[1, 2])] == [2, 2]


def test_merging_is_skipped_for_adapters_it_does_not_know(peft_policy):
    from sealign.policy.lora import adapters_merged

    layer = next(m for m in peft_policy.model.modules() if hasattr(m, "use_dora"))
    layer.use_dora["default"] = True
    with adapters_merged(peft_policy.model) as merged:
        assert not merged
