"""The learner: hyper-parameter wiring, reference handling per loss, reference samples, the EMA anchor."""

from __future__ import annotations

import copy
import inspect
import math

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import ConfigError
from sealign.learning.learner import PreferenceLearner, loss_hyperparameters
from sealign.learning.losses import LOSSES
from sealign.learning.optimiser import AnchorEMA, adamw
from sealign.policy import hardware
from sealign.policy.hf import HFPolicy
from sealign.records.types import PreferenceBatch, SignalBatch

torch.set_num_threads(1)


@pytest.fixture
def policy(tiny_policy) -> HFPolicy:
    """A private copy of the session's tiny policy (learners modify their policy in place)."""
    return HFPolicy(copy.deepcopy(tiny_policy.model), tiny_policy.tokenizer, device="cpu")


def make_config(loss: str, **overrides) -> RunConfig:
    values = {"loss": loss, "lr": 1e-2, "warmup_steps": 1, "micro_batch_size": 2, "max_new_tokens": 6}
    return RunConfig(**{**values, **overrides})


def make_batch(policy: HFPolicy) -> PreferenceBatch:
    prompts = policy.encode_prompts(["the cat sat on the mat", "a dog ran home", "rain fell all day"])
    chosen = policy.encode_responses(["cat sat", "dog ran home", "rain"])
    rejected = policy.encode_responses(["the the the", "home", "fell all day long"])
    return PreferenceBatch(prompts, chosen, rejected)


def params(policy: HFPolicy) -> list[torch.Tensor]:
    return [p.detach().clone() for p in policy.model.parameters()]


# ----------------------------------------------------------------------------- hyper-parameter wiring
def test_every_loss_setting_is_a_config_field_and_its_default():
    """Each ``Loss.settings`` entry names a keyword of the function and a config field; the function's
    default for it is the config's (one source of defaults), and no keyword with a default is left unfilled."""
    defaults = RunConfig()
    for name, loss in LOSSES.items():
        keywords = {p.name: p.default for p in inspect.signature(loss.fn).parameters.values()
                    if p.default is not p.empty}
        assert set(keywords) == set(loss.settings), f"{name}: keywords {sorted(keywords)} vs {sorted(loss.settings)}"
        for keyword, setting in loss.settings.items():
            assert keywords[keyword] == getattr(defaults, setting), f"{name}({keyword}=...) vs --{setting}"


def test_hyperparameters_come_from_the_config():
    config = make_config("dpo", beta=0.3, label_smoothing=0.1, sft_weight=0.5, alpha=0.02,
                         gamma_beta_ratio=0.7, nudge=0.05)
    assert loss_hyperparameters("dpo", config) == {"beta": 0.3, "label_smoothing": 0.1, "sft_weight": 0.5}
    assert loss_hyperparameters("ipo", config) == {"tau": 0.3, "sft_weight": 0.5}
    assert loss_hyperparameters("slic", config) == {"beta": 0.3, "sft_weight": 0.5}
    assert loss_hyperparameters("simpo", config) == {
        "beta": 0.3, "gamma_beta_ratio": 0.7, "label_smoothing": 0.1, "sft_weight": 0.5}
    assert loss_hyperparameters("selm", config) == {
        "beta": 0.3, "alpha": 0.02, "label_smoothing": 0.1, "sft_weight": 0.5}
    assert loss_hyperparameters("xpo", config) == loss_hyperparameters("selm", config)
    assert loss_hyperparameters("reinforce", config) == {"nudge": 0.05}


def test_unknown_loss_lists_the_choices(policy):
    with pytest.raises(ConfigError, match="unknown loss 'psychic'.*dpo, ipo, reinforce, selm, simpo, slic, xpo"):
        PreferenceLearner(policy, make_config("psychic"))
    assert sorted(LOSSES) == ["dpo", "ipo", "reinforce", "selm", "simpo", "slic", "xpo"]


# ----------------------------------------------------------------------------- one step per loss
@pytest.mark.parametrize("loss", ["dpo", "ipo", "slic", "simpo", "selm", "xpo", "reinforce"])
def test_each_loss_takes_a_finite_step(policy, loss):
    learner = PreferenceLearner(policy, make_config(loss, beta=2.0 if loss == "simpo" else 0.1))
    before = params(policy)
    metrics = learner.step(make_batch(policy))
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert any(not torch.equal(a, b) for a, b in zip(before, params(policy)))
    assert learner.steps == 1 and not policy.model.training
    # the first step starts at pi = pi_ref, so D = 0: the configured loss is the one computed
    first = {"dpo": math.log(2), "ipo": (1 / (2 * 0.1)) ** 2, "slic": 1.0}
    if loss in first:
        assert metrics["loss"] == pytest.approx(first[loss], rel=1e-5)
    if loss in ("selm", "xpo"):
        assert metrics["loss/dpo"] == pytest.approx(math.log(2), rel=1e-5)
    if loss in ("simpo", "reinforce"):
        assert learner.reference is None  # reference-free: no copy, no forward pass
    else:
        assert "kl" in metrics and "rewards/accuracy" in metrics


def test_simpo_never_runs_a_reference_forward(policy, monkeypatch):
    learner = PreferenceLearner(policy, make_config("simpo", beta=2.0))
    calls = []
    original = policy.sequence_logprobs
    monkeypatch.setattr(policy, "sequence_logprobs",
                        lambda *a, **k: calls.append(k.get("model")) or original(*a, **k))
    learner.step(make_batch(policy))
    assert calls and all(model is None for model in calls)


def test_selm_samples_from_the_frozen_reference(policy, monkeypatch):
    learner = PreferenceLearner(policy, make_config("selm"))
    batch = make_batch(policy)
    learner.step(batch)  # the policy now differs from the reference
    seen = []
    original = policy.generate
    monkeypatch.setattr(policy, "generate", lambda *a, **k: seen.append(k.get("model")) or original(*a, **k))
    with_samples = learner.with_reference_samples(batch)
    assert seen == [learner.reference]
    assert len(with_samples.ref_sample_ids) == len(batch)
    # the samples are the reference's: a fresh policy with the reference's weights draws the same
    twin = HFPolicy(copy.deepcopy(learner.reference), policy.tokenizer, device="cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(learner.config.seed * 1_000_003 + 500_009 + learner.steps)
        expected = twin.generate(batch.prompt_ids, n=1, temperature=learner.config.temperature,
                                 max_new_tokens=learner.config.max_new_tokens)
    assert with_samples.ref_sample_ids == [g[0] for g in expected]
    metrics = learner.step(with_samples)  # carried samples are used as they are
    # SELM's term is alpha * beta * E[lp(y~)] (Zhang et al. 2024 eq. 4.2): sign and scale, not just the sign
    config = learner.config
    assert metrics["loss/exploration"] == pytest.approx(config.alpha * config.beta * metrics["logps/ref_sample"])
    assert metrics["loss/exploration"] < 0


@pytest.mark.parametrize("loss", ["selm", "xpo"])
def test_alpha_zero_steps_exactly_like_dpo(tiny_policy, loss):
    def run(name: str):
        policy = HFPolicy(copy.deepcopy(tiny_policy.model), tiny_policy.tokenizer, device="cpu")
        learner = PreferenceLearner(policy, make_config(name, alpha=0.0))
        batch = make_batch(policy)
        for _ in range(2):
            learner.step(batch)
        return params(policy)

    for a, b in zip(run("dpo"), run(loss)):  # equal up to float rounding (wider padded forward)
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)


def test_sync_reference_copies_the_policy(policy):
    learner = PreferenceLearner(policy, make_config("selm"))
    learner.step(make_batch(policy))
    learner.sync_reference()
    for p, r in zip(policy.model.parameters(), learner.reference.parameters()):
        assert torch.equal(p, r) and not r.requires_grad


def test_offline_epochs_keep_reference_samples_aligned(policy):
    learner = PreferenceLearner(policy, make_config("xpo"))
    batch = learner.with_reference_samples(make_batch(policy))
    shuffled = batch.select([2, 0, 1])
    assert shuffled.ref_sample_ids == [batch.ref_sample_ids[i] for i in (2, 0, 1)]
    assert shuffled.chosen_ids == [batch.chosen_ids[i] for i in (2, 0, 1)]
    steps = []
    learner.train_epochs(batch, epochs=2, batch_size=2, seed=0, on_step=lambda e, k, m: steps.append((e, k)))
    assert steps == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_offline_epochs_score_each_pair_with_the_reference_once(tiny_policy, monkeypatch):
    import random

    def fresh():
        policy = HFPolicy(copy.deepcopy(tiny_policy.model), tiny_policy.tokenizer, device="cpu")
        return policy, PreferenceLearner(policy, make_config("dpo"))

    policy, learner = fresh()
    reference_rows = []
    original = policy.sequence_logprobs

    def counting(prompts, responses, model=None):
        if model is not None:
            reference_rows.append(len(prompts))
        return original(prompts, responses, model=model)

    monkeypatch.setattr(policy, "sequence_logprobs", counting)
    learner.train_epochs(make_batch(policy), epochs=3, batch_size=2, seed=0)
    assert sum(reference_rows) == 2 * 3  # chosen + rejected of 3 pairs, once: epochs 2 and 3 reuse them

    twin, twin_learner = fresh()  # the same steps, the reference scored again on every step
    order_rng, batch = random.Random(0), make_batch(twin)
    for _ in range(3):
        order = list(range(3))
        order_rng.shuffle(order)
        shuffled = batch.select(order)
        for k in range(2):
            twin_learner.step(shuffled.slice(2 * k, 2 * k + 2))
    for a, b in zip(params(policy), params(twin)):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- reinforce and its anchor
def test_anchor_ema_update_and_penalty():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    anchor = AnchorEMA(model, tau=0.25, weight=0.5)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[3.0, -2.0]]))
    # ||theta - theta_bar||^2 = 2^2 + 4^2 = 20; penalty = 0.5 * 20
    assert anchor.penalty().item() == pytest.approx(10.0)
    anchor.penalty().backward()
    assert model.weight.grad.tolist() == [[2.0, -4.0]]  # 2 * 0.5 * (theta - theta_bar)
    anchor.update()  # theta_bar = 0.75 * [1, 2] + 0.25 * [3, -2] = [1.5, 1.0]
    assert anchor.anchor[0].tolist() == [[1.5, 1.0]]
    with pytest.raises(ValueError):
        AnchorEMA(model, tau=0.0, weight=1.0)


def test_reinforce_step_on_signal_triples(policy):
    learner = PreferenceLearner(policy, make_config("reinforce", anchor_tau=0.5, anchor_weight=1.0, nudge=0.1))
    pref = make_batch(policy)
    triples = SignalBatch(pref.prompt_ids, pref.chosen_ids, [0.8, -0.3, 0.0])
    start = [a.clone() for a in learner.anchor.anchor]
    metrics = learner.reinforce_step(triples)
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["anchor/penalty"] == 0.0  # the anchor starts at the policy
    # after the step the anchor moved halfway (tau = 0.5) toward the new parameters
    for a, a0, p in zip(learner.anchor.anchor, start, learner.anchor.params):
        assert torch.allclose(a, 0.5 * a0 + 0.5 * p.detach())
    metrics = learner.reinforce_step(triples)
    assert metrics["anchor/penalty"] > 0 and metrics["anchor/distance"] > 0


def test_reinforce_from_preferences_uses_both_orders(policy):
    pref = make_batch(policy)
    signals = SignalBatch.from_preferences(pref)
    assert signals.signals == [1.0, 1.0, 1.0, -1.0, -1.0, -1.0]
    assert signals.response_ids == pref.chosen_ids + pref.rejected_ids
    learner = PreferenceLearner(policy, make_config("reinforce"))
    assert "reinforce/signal" in learner.step(pref)


def test_reinforce_step_needs_the_reinforce_loss(policy):
    learner = PreferenceLearner(policy, make_config("dpo"))
    with pytest.raises(ValueError, match="reinforce_step needs loss 'reinforce'"):
        learner.reinforce_step(SignalBatch([[1]], [[2]], [1.0]))


def test_checkpoint_keeps_the_anchor(policy, tmp_path):
    learner = PreferenceLearner(policy, make_config("reinforce", anchor_tau=0.5))
    learner.step(make_batch(policy))
    learner.save(tmp_path / "ckpt.pt")
    saved = [a.clone() for a in learner.anchor.anchor]
    learner.step(make_batch(policy))
    learner.load(tmp_path / "ckpt.pt")
    assert learner.steps == 1
    for a, b in zip(learner.anchor.anchor, saved):
        assert torch.equal(a, b)


@pytest.mark.parametrize("forced", [False, True], ids=["fused", "fused-kernel-missing"])
def test_adamw_is_fused_where_torch_can_and_updates_as_the_default_adamw(monkeypatch, caplog, forced):
    if forced:  # as with a torch older than 2.4, which has no fused AdamW on the CPU
        monkeypatch.setenv(hardware.FORCE_VARIABLE, "fused-adamw")
        monkeypatch.setattr(hardware, "_warned", set())
    elif not hardware.fused_adamw([torch.zeros(1)]):
        pytest.skip("this torch has no fused AdamW on the CPU (torch < 2.4); the forced case covers the fallback")
    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    fused = adamw(list(nets[0].parameters()), lr=1e-2, weight_decay=0.01)
    default = torch.optim.AdamW(nets[1].parameters(), lr=1e-2, weight_decay=0.01)
    assert bool(fused.defaults["fused"]) == (not forced) and not default.defaults["fused"]
    adamw(list(nets[1].parameters()), lr=1e-2)  # a second optimiser: no second warning
    warnings = [r.getMessage() for r in caplog.records if r.name == "sealign.hardware"]
    assert len(warnings) == (1 if forced else 0) and all("no fused AdamW" in w for w in warnings)
    x = torch.randn(8, 16)
    for _ in range(20):
        for net, opt in zip(nets, (fused, default)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.allclose(p, q, atol=1e-6)


# ----------------------------------------------------------------------------- dropout (off unless kept)
def gpt2_policy(tiny_policy) -> HFPolicy:
    """A tiny GPT-2 with GPT-2's dropouts (residual, embedding, attention: 0.1) and the tiny tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = tiny_policy.tokenizer
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=256,
                        resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    return HFPolicy(GPT2LMHeadModel(config).eval(), tokenizer, device="cpu")


def with_lora(policy: HFPolicy, lora_r: int, lora_dropout: float = 0.0) -> HFPolicy:
    if lora_r:
        pytest.importorskip("peft")
        from sealign.policy.lora import add_lora

        policy.model = add_lora(policy.model, lora_r, 8, lora_dropout, "all-linear", seed=0)
    return policy


def margins(logps) -> torch.Tensor:
    """DPO's D per pair: (log pi - log pi_ref)(chosen) - (log pi - log pi_ref)(rejected)."""
    return (logps.chosen - logps.ref_chosen) - (logps.rejected - logps.ref_rejected)


@pytest.mark.parametrize("lora_r", [0, 4], ids=["full", "lora"])
def test_dropout_is_off_in_the_learner_passes_by_default(tiny_policy, lora_r):
    policy = with_lora(gpt2_policy(tiny_policy), lora_r)
    learner = PreferenceLearner(policy, make_config("dpo", micro_batch_size=8))
    batch = make_batch(policy)
    policy.model.train()  # the mode of the learner's loss passes
    first, second = learner._pair_logps(batch), learner._pair_logps(batch)
    for name in ("chosen", "rejected", "ref_chosen", "ref_rejected"):
        assert torch.equal(getattr(first, name), getattr(second, name)), name
    assert torch.equal(margins(first), torch.zeros(len(batch)))  # policy == reference before any step
    metrics = learner.step(batch)
    assert metrics["rewards/margin"] == 0.0 and metrics["loss"] == pytest.approx(math.log(2), abs=1e-7)


@pytest.mark.parametrize("lora_r", [0, 4], ids=["full", "lora"])
def test_keep_dropout_keeps_the_passes_noisy(tiny_policy, lora_r):
    policy = with_lora(gpt2_policy(tiny_policy), lora_r)
    learner = PreferenceLearner(policy, make_config("dpo", micro_batch_size=8, keep_dropout=True))
    batch = make_batch(policy)
    policy.model.train()
    torch.manual_seed(1)
    first, second = learner._pair_logps(batch), learner._pair_logps(batch)
    assert not torch.equal(first.chosen, second.chosen)
    assert not torch.equal(margins(first), torch.zeros(len(batch)))
    reference_noisy = not torch.equal(first.ref_chosen, second.ref_chosen)
    assert reference_noisy == bool(lora_r)  # with LoRA the reference is the same network, in train mode


def test_lora_dropout_is_kept_while_the_model_dropout_goes(tiny_policy):
    policy = with_lora(gpt2_policy(tiny_policy), 4, lora_dropout=0.2)
    PreferenceLearner(policy, make_config("dpo"))
    dropouts = {name: module.p for name, module in policy.model.named_modules() if isinstance(module, torch.nn.Dropout)}
    adapters = {name for name in dropouts if ".lora_dropout." in name}
    assert adapters and all(dropouts[name] == 0.2 for name in adapters)
    assert all(p == 0.0 for name, p in dropouts.items() if name not in adapters)


def test_functional_dropout_probabilities_are_zeroed_too():
    """OPT passes float attributes to nn.functional.dropout instead of holding nn.Dropout modules."""
    from transformers import OPTConfig, OPTForCausalLM

    from sealign.policy.dropout import disable_dropout

    torch.manual_seed(0)
    model = OPTForCausalLM(OPTConfig(vocab_size=50, hidden_size=16, ffn_dim=32, num_hidden_layers=2,
                                     num_attention_heads=2, max_position_embeddings=64, word_embed_proj_dim=16,
                                     dropout=0.1, attention_dropout=0.1, layerdrop=0.1)).train()
    ids = torch.tensor([[2, 5, 7, 9, 11]])
    assert disable_dropout(model) > 0
    assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
    assert disable_dropout(model) == 0  # nothing left
