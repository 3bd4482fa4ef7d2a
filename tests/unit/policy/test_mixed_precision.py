"""bf16 mixed precision (``mixed_precision='bf16'``): forward passes under autocast, fp32 master
weights, frozen linear layers stored in bf16; and the frozen initial policy shared, not copied."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import ConfigError
from sealign.exploration.features import build_features
from sealign.learning.learner import PreferenceLearner
from sealign.policy import load_policy
from sealign.policy.anatomy import store_frozen_linears
from sealign.records.types import Candidate, PreferenceBatch, Prompt
from tests.conftest import ROOT

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def base_dir(tiny_policy_folder):
    return tiny_policy_folder  # conftest's tiny random policy, saved: policies load from a folder, as in a run


def config(**overrides) -> RunConfig:
    values = {"lr": 2e-2, "warmup_steps": 1, "micro_batch_size": 8, "max_new_tokens": 6, "device": "cpu"}
    return RunConfig(**{**values, **overrides})


def make_batch(policy) -> PreferenceBatch:
    prompts = policy.encode_prompts(["the cat sat on the mat", "a dog ran home", "rain fell all day"])
    chosen = policy.encode_responses(["cat sat", "dog ran home", "rain"])
    rejected = policy.encode_responses(["the the the", "home", "fell all day long"])
    return PreferenceBatch(prompts, chosen, rejected)


def scores(policy, batch, model=None) -> torch.Tensor:
    with torch.no_grad():
        return policy.sequence_logprobs(batch.prompt_ids + batch.prompt_ids, batch.chosen_ids + batch.rejected_ids,
                                        model=model)[0]


@pytest.mark.parametrize("lora_r", [0, 4])
def test_bf16_scores_close_to_fp32_and_master_weights_stay_fp32(base_dir, lora_r):
    full = load_policy(config(lora_r=lora_r), str(base_dir))
    mixed = load_policy(config(lora_r=lora_r, mixed_precision="bf16"), str(base_dir))
    batch = make_batch(full)
    exact, approx = scores(full, batch), scores(mixed, batch)
    assert approx.dtype == torch.float32
    tokens = torch.tensor([len(r) for r in batch.chosen_ids + batch.rejected_ids], dtype=torch.float32)
    per_token_error = ((approx - exact).abs() / tokens).max().item()
    assert 0 < per_token_error < 0.05, per_token_error  # bf16 really ran, and stayed close
    trained = [p for p in mixed.model.parameters() if p.requires_grad]
    assert trained and all(p.dtype == torch.float32 for p in trained)
    if lora_r:  # the frozen base's linear layers are stored in bf16, the embeddings are not
        frozen_linears = [m for m in mixed.model.modules()
                          if isinstance(m, torch.nn.Linear) and not m.weight.requires_grad]
        assert frozen_linears and all(m.weight.dtype == torch.bfloat16 for m in frozen_linears)
        embeddings = [m for m in mixed.model.modules() if isinstance(m, torch.nn.Embedding)]
        assert all(m.weight.dtype == torch.float32 for m in embeddings)


@pytest.mark.parametrize("lora_r", [0, 4])
def test_bf16_dpo_steps_reduce_the_loss_and_sampling_runs(base_dir, lora_r):
    policy = load_policy(config(lora_r=lora_r, mixed_precision="bf16"), str(base_dir))
    learner = PreferenceLearner(policy, config(lora_r=lora_r, mixed_precision="bf16"))
    batch = make_batch(policy)
    losses = [learner.step(batch)["loss"] for _ in range(8)]
    assert losses[-1] < losses[0] - 0.05, losses
    samples = policy.generate(batch.prompt_ids, n=2, temperature=1.0, max_new_tokens=5)
    assert [len(g) for g in samples] == [2, 2, 2] and all(r for g in samples for r in g)


@pytest.mark.parametrize("lora_r", [0, 4])
def test_where_bf16_cannot_run_the_policy_runs_in_float32(base_dir, lora_r, monkeypatch):
    """A GPU without bf16 (forced here on the CPU): no autocast, nothing stored in bf16, the
    float32 policy's scores exactly, and the learner steps."""
    from sealign.policy import hardware

    monkeypatch.setattr(hardware, "bf16_runs", lambda device: False)
    mixed = load_policy(config(lora_r=lora_r, mixed_precision="bf16"), str(base_dir))
    assert mixed.mixed_precision == "no"
    assert all(p.dtype == torch.float32 for p in mixed.model.parameters())
    if not lora_r:  # the frozen reference copy too (with LoRA it is the network above)
        assert all(p.dtype == torch.float32 for p in mixed.frozen_copy().parameters())
    full = load_policy(config(lora_r=lora_r), str(base_dir))
    batch = make_batch(full)
    assert torch.equal(scores(mixed, batch), scores(full, batch))
    assert math.isfinite(PreferenceLearner(mixed, config(lora_r=lora_r)).step(batch)["loss"])


def test_reference_and_features_share_one_frozen_copy_until_the_reference_moves(base_dir):
    settings = config(mixed_precision="bf16")
    policy = load_policy(settings, str(base_dir))
    learner = PreferenceLearner(policy, settings)
    features = build_features(config(explore_features="policy"), policy)
    assert learner.reference is features.model  # one frozen copy of the initial weights, not two
    frozen = [m for m in learner.reference.modules() if isinstance(m, torch.nn.Linear)]
    assert frozen and all(m.weight.dtype == torch.bfloat16 for m in frozen)  # half the memory
    prompt = Prompt("p0", "the cat sat on the mat")
    candidates = [Candidate(prompt, policy.encode_prompts([prompt.text])[0], policy.encode_responses(["cat sat"])[0],
                            "cat sat")]
    before = features(candidates)
    learner.step(make_batch(policy))
    learner.sync_reference()  # SELM's pi_ref = pi_t: the learner's own copy moves, the features' does not
    assert learner.reference is not features.model
    assert torch.equal(features(candidates), before)
    assert torch.allclose(scores(policy, make_batch(policy), learner.reference),
                          scores(policy, make_batch(policy)), atol=0.05 * 6)


def test_store_frozen_linears_leaves_trained_and_tied_weights_alone(tiny_policy):
    import copy

    model = copy.deepcopy(tiny_policy.model)
    model.config.tie_word_embeddings = True
    model.tie_weights()
    for name, p in model.named_parameters():
        p.requires_grad_("layers.0" in name)  # layer 0 trains, the rest is frozen
    changed = store_frozen_linears(model, torch.bfloat16)
    assert changed > 0
    assert model.model.layers[0].self_attn.q_proj.weight.dtype == torch.float32
    assert model.model.layers[1].self_attn.q_proj.weight.dtype == torch.bfloat16
    assert model.model.embed_tokens.weight.dtype == torch.float32  # the tied head got its own bf16 copy
    assert model.lm_head.weight.dtype == torch.bfloat16


def test_mixed_precision_needs_fp32_master_weights():
    with pytest.raises(ConfigError, match="float32 master weights"):
        RunConfig(mixed_precision="bf16", dtype="bfloat16").validate()
    with pytest.raises(ConfigError, match="mixed_precision must be"):
        RunConfig(mixed_precision="fp8").validate()


README_GPU_EXAMPLE_BEFORE = ("--preset online-dpo --policy EleutherAI/pythia-1b --dtype bfloat16 "
                             "--prompts my_prompts.jsonl --prompt-field prompt --reward-fn my_package.rewards:score "
                             "--batch-size 64 --num-candidates 4 --max-new-tokens 128 --lr 5e-7 --beta 0.1")


def readme_gpu_example() -> list[str]:
    """The flags of README.md's "On a GPU, with a real model" command, as it reads today."""
    import re
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## On a GPU, with a real model.*?```bash\n(.*?)```", readme, re.S).group(1)
    words = shlex.split(block.replace("\\\n", " "))
    assert words[:2] == ["sealign", "run"]
    return words[2:]


def test_weights_trained_in_bf16_at_a_learning_rate_that_rounds_away_are_refused():
    from sealign.cli_flags import resolve_config

    with pytest.raises(ConfigError, match=r"--lr 5e-07 is below .* use --dtype float32 --mixed-precision bf16"):
        resolve_config(README_GPU_EXAMPLE_BEFORE.split())
    fixed = resolve_config(readme_gpu_example())  # the README's example trains: fp32 master weights
    assert fixed.dtype == "float32" and fixed.mixed_precision == "bf16" and fixed.lr == 5e-7


@pytest.mark.parametrize("settings,refused", [
    ({"dtype": "bfloat16", "lr": 1e-4}, True),   # below bf16's spacing at 0.02 (1.2e-4)
    ({"dtype": "bfloat16", "lr": 2e-4}, False),
    ({"dtype": "float16", "lr": 1e-5}, True),    # below fp16's (1.5e-5)
    ({"dtype": "float16", "lr": 2e-5}, False),
    ({"dtype": "bfloat16", "lr": 5e-7, "lora_r": 8}, False),  # peft trains the adapters in float32
    ({"dtype": "float32", "lr": 5e-7}, False),
])
def test_the_rounding_rule_reads_the_dtype_spacing_and_spares_lora(settings, refused):
    if refused:
        with pytest.raises(ConfigError, match="would round away"):
            RunConfig(**settings).validate()
    else:
        RunConfig(**settings).validate()


@pytest.mark.parametrize("lora_r", [0, 4])
def test_lean_head_scores_and_gradients_match_the_full_logits(base_dir, lora_r, monkeypatch):
    """The large-vocabulary path (backbone, then the head at response tokens in checkpointed chunks)
    gives the log-probabilities and gradients of the one-pass path, for the policy and its reference."""
    from sealign.policy import anatomy, scoring

    def logps_and_grads(lean: bool):
        monkeypatch.setattr(anatomy, "LEAN_HEAD_MIN_VOCAB", 0 if lean else 10**9)
        monkeypatch.setattr(scoring, "head_logprobs", functools.partial(original_head_logprobs, chunk_tokens=3))
        policy = load_policy(config(lora_r=lora_r), str(base_dir))
        batch = make_batch(policy)
        prompts, responses = batch.prompt_ids * 2, batch.chosen_ids + batch.rejected_ids
        logps, lengths = policy.sequence_logprobs(prompts, responses)
        (logps * torch.arange(1.0, 7.0)).sum().backward()
        grads = [p.grad.clone() for p in policy.model.parameters() if p.requires_grad]
        with torch.no_grad():
            reference = policy.sequence_logprobs(prompts, responses, model=policy.frozen_copy())[0]
        return logps.detach(), lengths, grads, reference

    from sealign.policy.scoring import head_logprobs as original_head_logprobs

    lean, full = logps_and_grads(True), logps_and_grads(False)
    assert anatomy.backbone_and_head(load_policy(config(), str(base_dir)).model) is None  # 300 tokens: one pass
    assert torch.allclose(lean[0], full[0], atol=1e-5) and torch.equal(lean[1], full[1])
    worst = max((a - b).abs().max().item() / (b.abs().max().item() + 1e-12) for a, b in zip(lean[2], full[2]))
    assert worst < 1e-4, worst
    assert torch.allclose(lean[3], full[3], atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_features_run_each_prompt_once_and_match_the_full_pass(tiny_policy, pooling):
    from sealign.exploration.features import BackboneFeatures

    texts = ["the cat sat on the mat", "a dog ran home"]
    responses = [["cat sat", "the mat", "cat", "sat on the mat today"], ["dog ran", "home", "a dog", "ran home"]]
    candidates = [Candidate(Prompt(f"p{i}", t), tiny_policy.encode_prompts([t])[0],
                            tiny_policy.encode_responses([r])[0], r)
                  for i, t in enumerate(texts) for r in responses[i]]
    prompt_rows = []
    original = tiny_policy.pooled_hidden_states

    def counting(prompt_ids, response_ids, model, pooling):
        prompt_rows.append(len({tuple(p) for p in prompt_ids}))
        return original(prompt_ids, response_ids, model, pooling)

    shared = BackboneFeatures(tiny_policy.model, tiny_policy.pad_id, pooling, pooled_hidden_states=counting)
    full = BackboneFeatures(tiny_policy.model, tiny_policy.pad_id, pooling)
    assert torch.allclose(shared(candidates), full(candidates), atol=1e-5)
    assert prompt_rows == [2]  # 8 candidates, 2 prompts: each prompt ran once
