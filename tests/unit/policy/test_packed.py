"""oneDNN-packed linear layers while sampling on a CPU (sealign/policy/packed.py)."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch

from sealign.policy import hardware, packed
from sealign.policy.hf import HFPolicy
from sealign.policy.packed import MIN_PACKED_ELEMENTS, packed_linears

torch.set_num_threads(1)
pytestmark = pytest.mark.skipif(not packed.available(), reason="this torch has no oneDNN linear ops")
needs_onednn_bf16 = pytest.mark.skipif(
    not hardware.onednn_bf16(), reason="this CPU has no oneDNN bf16 kernels (avx512bw/vl/dq or avx_ne_convert); "
                                       "the forced fallback tests below cover it")


@pytest.fixture
def without_onednn_bf16(monkeypatch):
    """oneDNN's bf16 kernels reported missing (as on a CPU without AVX-512), warnings not yet given."""
    monkeypatch.setenv(hardware.FORCE_VARIABLE, "bf16")
    monkeypatch.setattr(hardware, "_warned", set())


def two_layers() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(512, 600), torch.nn.Linear(600, 8))  # 307k weights, then 4.8k


def test_large_layers_compute_the_same_products_packed_and_small_ones_are_left_alone():
    model = two_layers()
    x = torch.randn(5, 3, 512)
    expected = model(x)
    weights = [p.detach().clone() for p in model.parameters()]
    with packed_linears(model, None, rows=15) as count:
        assert count == 1 and "forward" in model[0].__dict__ and "forward" not in model[1].__dict__
        inside = model(x)
    torch.testing.assert_close(inside, expected, rtol=1e-5, atol=1e-5)
    assert "forward" not in model[0].__dict__  # the class's forward again
    assert torch.equal(model(x), expected)
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))


@needs_onednn_bf16
def test_bf16_products_equal_autocast_ones():
    model = two_layers()
    x = torch.randn(16, 512)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model[0](x)
        with packed_linears(model, torch.bfloat16, rows=16):
            got = model[0](x)
    assert got.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected.float(), rtol=1e-2, atol=1e-2)


def test_without_onednn_bf16_nothing_is_packed_and_products_are_the_plain_ones(without_onednn_bf16, caplog):
    model = two_layers()
    x = torch.randn(16, 512)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model[0](x)
        for _ in range(2):
            with packed_linears(model, torch.bfloat16, rows=16) as count:
                assert count == 0 and "forward" not in model[0].__dict__
                got = model[0](x)
            assert torch.equal(got, expected)
        with packed_linears(model, None, rows=16) as count:  # float32 weights still pack
            assert count == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "sealign.hardware"]
    assert len(warnings) == 1 and "unpacked" in warnings[0]  # once per process, not per decode loop


def test_a_shared_weight_is_packed_once(monkeypatch):
    model = two_layers()
    tied = torch.nn.Linear(512, 600)
    tied.weight = model[0].weight
    holder = torch.nn.ModuleList([model[0], tied])
    calls = []
    reorder = torch.ops.mkldnn._reorder_linear_weight
    monkeypatch.setattr(torch.ops.mkldnn, "_reorder_linear_weight", lambda *a: calls.append(1) or reorder(*a))
    with packed_linears(holder, None, rows=4) as count:
        assert count == 2
    assert len(calls) == 1


def test_nothing_is_packed_without_onednn(monkeypatch):
    monkeypatch.setattr(packed, "available", lambda: False)
    with packed_linears(two_layers(), None, rows=4) as count:
        assert count == 0


def large_vocabulary_policy(tiny_policy) -> HFPolicy:
    from transformers import LlamaForCausalLM

    config = copy.deepcopy(tiny_policy.model.config)
    config.vocab_size = MIN_PACKED_ELEMENTS // config.hidden_size + 8  # the LM head reaches the threshold
    torch.manual_seed(2)
    return HFPolicy(LlamaForCausalLM(config).eval(), tiny_policy.tokenizer, device="cpu", mixed_precision="bf16")


def packed_and_default_samples(policy: HFPolicy) -> tuple[list[int], dict]:
    """How many layers each decode loop packed, and the responses (seeded, then greedy) sampled with
    ``HFPolicy.packed_weights`` and with no packing at all."""
    prompts = policy.encode_prompts(["the cat sat on the mat", "a dog", "rain fell"])
    entered = []
    plain_context = HFPolicy.packed_weights

    @contextlib.contextmanager
    def spy(self, model, rows):
        with plain_context(self, model, rows) as count:
            entered.append(count)
            yield count

    runs = {}
    for name, method in (("packed", spy), ("default", lambda self, model, rows: contextlib.nullcontext())):
        HFPolicy.packed_weights = method
        try:
            runs[name] = (policy.generate(prompts, n=2, max_new_tokens=8, seeds=[1, 2, 3]),
                          policy.generate(prompts, n=1, max_new_tokens=8, temperature=0.0))
        finally:
            HFPolicy.packed_weights = plain_context
    return entered, runs


@needs_onednn_bf16
def test_a_bf16_policy_samples_the_same_responses_with_packed_weights(tiny_policy):
    entered, runs = packed_and_default_samples(large_vocabulary_policy(tiny_policy))
    assert entered == [1, 1]  # the LM head: the one layer large enough
    assert runs["packed"] == runs["default"]


def test_a_bf16_policy_without_onednn_bf16_samples_unpacked(tiny_policy, without_onednn_bf16):
    entered, runs = packed_and_default_samples(large_vocabulary_policy(tiny_policy))
    assert entered == [0, 0]
    assert runs["packed"] == runs["default"]


def test_packing_is_for_bf16_sampling_and_large_layers_only(tiny_policy):
    assert isinstance(tiny_policy.packed_weights(None, rows=8), contextlib.nullcontext)  # float32
    bf16 = HFPolicy(copy.deepcopy(tiny_policy.model), tiny_policy.tokenizer, device="cpu", mixed_precision="bf16")
    with bf16.packed_weights(None, rows=8) as count:
        assert count == 0  # the built-in model's small layers keep the default path
