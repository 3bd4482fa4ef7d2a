"""The loss family against hand-computed values, properties, TRL's implementations and finite differences.

Hand values: ``sp(x) = log(1 + e^x)`` (softplus), so ``-log sigma(z) = sp(-z)`` and
``sp(z) = z + sp(-z)``. Constants below were evaluated once with a calculator from these
closed forms (never by calling the code under test).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sealign.learning.losses import (
    LOSSES,
    PAIR_LOSSES,
    PairLogps,
    compute_loss,
    dpo_loss,
    ipo_loss,
    reinforce_loss,
    selm_loss,
    simpo_loss,
    slic_loss,
    xpo_loss,
)
from sealign.learning.reward_losses import bt_loss, length_penalized_reward

torch.set_num_threads(1)

# sp(-0.5), sp(1.25), sp(-2), sp(1.5), sp(1), sp(-1), sp(0.5), sp(0), sp(0.6)
SP_M05 = 0.4740769841801067
SP_125 = 1.501929081345373
SP_M2 = 0.1269280110429725
SP_15 = 1.7014132779827524
SP_1 = 1.3132616875182228
SP_M1 = 0.31326168751822286
SP_05 = 0.9740769841801067
SP_0 = 0.6931471805599453  # log 2
SP_06 = 1.0374879504858856

FAST = settings(max_examples=60, deadline=None)


def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@pytest.fixture
def pairs() -> PairLogps:
    """Three pairs with
    lr(y_w) = chosen - ref_chosen     = [ 0.5, -1.0,  2.0]
    lr(y_l) = rejected - ref_rejected = [-0.5,  1.5, -2.0]
    D       = lr(y_w) - lr(y_l)       = [ 1.0, -2.5,  4.0]
    lengths |y_w| = [2, 4, 1], |y_l| = [1, 2, 3]; policy log-probs of reference samples [-4, -8, -6].
    """
    return PairLogps(
        chosen=t(-1.0, -3.0, -2.0), rejected=t(-2.0, -1.0, -6.0),
        ref_chosen=t(-1.5, -2.0, -4.0), ref_rejected=t(-1.5, -2.5, -4.0),
        chosen_len=t(2, 4, 1), rejected_len=t(1, 2, 3), ref_sample=t(-4.0, -8.0, -6.0),
    )


# ----------------------------------------------------------------------------- hand-computed values
def test_dpo_value_and_metrics(pairs):
    # beta = 0.5: beta*D = [0.5, -1.25, 2.0]; per pair sp(-beta*D) = [sp(-0.5), sp(1.25), sp(-2)]
    out = dpo_loss(pairs, beta=0.5)
    assert out.loss.item() == pytest.approx((SP_M05 + SP_125 + SP_M2) / 3, abs=1e-6)  # 0.7009780255
    m = out.metrics
    assert m["rewards/chosen"] == pytest.approx(0.5 * (0.5 - 1.0 + 2.0) / 3, abs=1e-6)  # 0.25
    assert m["rewards/rejected"] == pytest.approx(0.5 * (-0.5 + 1.5 - 2.0) / 3, abs=1e-6)  # -1/6
    assert m["rewards/margin"] == pytest.approx(0.5 * (1.0 - 2.5 + 4.0) / 3, abs=1e-6)  # 0.41667
    assert m["rewards/accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    # KL estimate: mean of (lr_w + lr_l) / 2 = mean([0, 0.25, 0]) = 1/12
    assert m["kl"] == pytest.approx(1 / 12, abs=1e-6)
    assert m["logps/chosen"] == pytest.approx(-2.0, abs=1e-6)


def test_cdpo_label_smoothing_value(pairs):
    # (1-eps) sp(-z) + eps sp(z) = sp(-z) + eps*z; eps = 0.1, z = [0.5, -1.25, 2]:
    # mean = 0.7009780255 + 0.1 * 1.25 / 3 = 0.7426446922
    out = dpo_loss(pairs, beta=0.5, label_smoothing=0.1)
    assert out.loss.item() == pytest.approx((SP_M05 + SP_125 + SP_M2) / 3 + 0.1 * 1.25 / 3, abs=1e-6)
    assert out.loss.item() == pytest.approx(0.7426446921894841, abs=1e-6)


def test_ipo_value(pairs):
    # 1/(2 beta) = 1 at beta = 0.5: (D - 1)^2 = [0, 12.25, 9] -> mean 21.25/3
    assert ipo_loss(pairs, tau=0.5).loss.item() == pytest.approx(21.25 / 3, abs=1e-6)


def test_slic_value(pairs):
    # max(0, 1 - 0.5*D) = [0.5, 2.25, 0] -> mean 2.75/3
    out = slic_loss(pairs, beta=0.5)
    assert out.loss.item() == pytest.approx(2.75 / 3, abs=1e-6)
    assert out.metrics["rewards/margin"] == pytest.approx(1.25 / 3, abs=1e-6)


def test_simpo_value_and_metrics(pairs):
    # lp/|y|: chosen [-0.5, -0.75, -2], rejected [-2, -0.5, -2]; difference [1.5, -0.25, 0]
    # beta = 2, gamma = 0.5 * 2 = 1: z = 2 * diff - 1 = [2, -1.5, -1]; sp(-z) = [sp(-2), sp(1.5), sp(1)]
    out = simpo_loss(pairs, beta=2.0, gamma_beta_ratio=0.5)
    assert out.loss.item() == pytest.approx((SP_M2 + SP_15 + SP_1) / 3, abs=1e-6)  # 1.0472009922
    m = out.metrics
    assert m["rewards/chosen"] == pytest.approx(2 * (-0.5 - 0.75 - 2.0) / 3, abs=1e-6)
    assert m["rewards/rejected"] == pytest.approx(2 * (-2.0 - 0.5 - 2.0) / 3, abs=1e-6)
    assert m["rewards/margin"] == pytest.approx(2 * 1.25 / 3, abs=1e-6)
    assert m["rewards/accuracy"] == pytest.approx(1 / 3, abs=1e-6)
    assert "kl" not in m


def test_simpo_label_smoothing_value(pairs):
    # sp(-z) + eps*z with z = [2, -1.5, -1], eps = 0.2: + 0.2 * (-0.5) / 3
    out = simpo_loss(pairs, beta=2.0, gamma_beta_ratio=0.5, label_smoothing=0.2)
    assert out.loss.item() == pytest.approx((SP_M2 + SP_15 + SP_1) / 3 - 0.1 / 3, abs=1e-6)


def test_selm_and_xpo_values(pairs):
    dpo = (SP_M05 + SP_125 + SP_M2) / 3
    # SELM: + alpha * beta * mean(lp(y_ref)) = 0.01 * 0.5 * (-6) = -0.03
    selm = selm_loss(pairs, beta=0.5, alpha=0.01)
    assert selm.loss.item() == pytest.approx(dpo - 0.03, abs=1e-6)
    assert selm.metrics["loss/exploration"] == pytest.approx(-0.03, abs=1e-6)
    assert selm.metrics["logps/ref_sample"] == pytest.approx(-6.0, abs=1e-6)
    # XPO: + alpha * mean(lp(y_ref)) = 0.01 * (-6) = -0.06 (no beta)
    assert xpo_loss(pairs, beta=0.5, alpha=0.01).loss.item() == pytest.approx(dpo - 0.06, abs=1e-6)


def test_sft_term_mixes_into_any_loss(pairs):
    # -lp(y_w)/|y_w| = [0.5, 0.75, 2.0] -> mean 3.25/3; weight 0.5 adds 3.25/6
    for name, base in [("dpo", (SP_M05 + SP_125 + SP_M2) / 3), ("ipo", 21.25 / 3), ("slic", 2.75 / 3)]:
        out = compute_loss(name, pairs, sft_weight=0.5, **{"tau" if name == "ipo" else "beta": 0.5})
        assert out.loss.item() == pytest.approx(base + 3.25 / 6, abs=1e-6)
        assert out.metrics["sft_nll"] == pytest.approx(3.25 / 3, abs=1e-6)
    out = compute_loss("simpo", pairs, sft_weight=1.0, beta=2.0, gamma_beta_ratio=0.5)
    assert out.loss.item() == pytest.approx((SP_M2 + SP_15 + SP_1) / 3 + 3.25 / 3, abs=1e-6)
    assert compute_loss("dpo", pairs, beta=0.5).loss.item() == pytest.approx(
        (SP_M05 + SP_125 + SP_M2) / 3, abs=1e-6)


def test_reinforce_value_and_gradient():
    # reinforcement = signal + nudge = [1.25, -0.25]; loss = -mean([1.25 * -2, -0.25 * -4]) = -mean([-2.5, 1]) = 0.75
    logps = t(-2.0, -4.0).requires_grad_()
    signals = t(1.0, -0.5).requires_grad_()
    out = reinforce_loss(logps, signals, nudge=0.25)
    assert out.loss.item() == pytest.approx(0.75, abs=1e-6)
    out.loss.backward()
    # d loss / d lp = -(s + nudge) / B = [-0.625, 0.125]; the signals are constants
    assert logps.grad.tolist() == pytest.approx([-0.625, 0.125], abs=1e-12)
    assert signals.grad is None
    assert out.metrics["reinforce/positive_fraction"] == pytest.approx(0.5)


def test_bradley_terry_values():
    chosen, rejected = t(1.0, 0.0), t(0.0, 0.5)
    # r_w - r_l = [1, -0.5] -> [sp(-1), sp(0.5)]
    out = bt_loss(chosen, rejected)
    assert out.loss.item() == pytest.approx((SP_M1 + SP_05) / 2, abs=1e-6)  # 0.6436693358
    assert out.metrics["rewards/accuracy"] == pytest.approx(0.5)
    # margin 0.5: [0.5, -1] -> [sp(-0.5), sp(1)]
    assert bt_loss(chosen, rejected, margin=0.5).loss.item() == pytest.approx((SP_M05 + SP_1) / 2, abs=1e-6)
    # per-pair margins [1, -0.5] make both differences 0 -> log 2
    assert bt_loss(chosen, rejected, margin=t(1.0, -0.5)).loss.item() == pytest.approx(SP_0, abs=1e-6)
    # length penalty 0.1, |y_w| = [10, 2], |y_l| = [0, 1]: r' = [0, -0.2] vs [0, 0.4] -> [sp(0), sp(0.6)]
    out = bt_loss(chosen, rejected, length_penalty=0.1, chosen_len=t(10, 2), rejected_len=t(0, 1))
    assert out.loss.item() == pytest.approx((SP_0 + SP_06) / 2, abs=1e-6)
    assert length_penalized_reward(t(1.0), t(10), 0.1).item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="chosen_len"):
        bt_loss(chosen, rejected, length_penalty=0.1)


def test_missing_inputs_are_named(pairs):
    no_ref = PairLogps(pairs.chosen, pairs.rejected, chosen_len=pairs.chosen_len, rejected_len=pairs.rejected_len)
    for name in ("dpo", "ipo", "slic", "selm", "xpo"):
        with pytest.raises(ValueError, match="reference log-probs|ref_sample"):
            LOSSES[name].fn(no_ref)
    with pytest.raises(ValueError, match="ref_sample"):
        selm_loss(PairLogps(pairs.chosen, pairs.rejected, pairs.ref_chosen, pairs.ref_rejected))
    with pytest.raises(ValueError, match="chosen_len"):
        compute_loss("dpo", PairLogps(pairs.chosen, pairs.rejected, pairs.ref_chosen, pairs.ref_rejected),
                     sft_weight=1.0)
    nan = PairLogps(t(float("nan")), t(0.0), t(0.0), t(0.0))
    with pytest.raises(FloatingPointError):
        compute_loss("dpo", nan)


def test_registry_flags():
    assert set(PAIR_LOSSES) == {"dpo", "ipo", "slic", "simpo", "selm", "xpo"}
    assert set(LOSSES) == {*PAIR_LOSSES, "reinforce"}
    with pytest.raises(ValueError, match="pairwise"):
        compute_loss("reinforce", PairLogps(t(0.0), t(0.0)))
    assert {name for name, loss in LOSSES.items() if not loss.uses_reference} == {"simpo", "reinforce"}
    assert {name for name, loss in LOSSES.items() if loss.needs_ref_sample} == {"selm", "xpo"}


# ----------------------------------------------------------------------------- properties
logp = st.floats(-30.0, 0.0, allow_nan=False)
betas = st.floats(0.01, 5.0)


def one_pair(cw, cl, rw, rl, **extra) -> PairLogps:
    return PairLogps(t(cw), t(cl), t(rw), t(rl), t(3), t(5), **extra)


@FAST
@given(logp, logp, logp, logp, betas)
def test_swapping_chosen_and_rejected_flips_the_dpo_margin(cw, cl, rw, rl, beta):
    out = dpo_loss(one_pair(cw, cl, rw, rl), beta=beta)
    swapped = dpo_loss(PairLogps(t(cl), t(cw), t(rl), t(rw)), beta=beta)
    assert swapped.metrics["rewards/margin"] == pytest.approx(-out.metrics["rewards/margin"], abs=1e-9)
    # sp(z) - sp(-z) = z: the swapped loss exceeds the original by exactly the margin beta * D
    assert swapped.loss.item() - out.loss.item() == pytest.approx(out.metrics["rewards/margin"], abs=1e-6)


@FAST
@given(logp, logp, logp, betas, st.floats(-10.0, 10.0))
def test_ipo_is_minimised_at_margin_one_over_two_beta(cw, rw, rl, beta, delta):
    target = 1 / (2 * beta)
    # choose the rejected log-prob so that D = target + delta
    cl = (cw - rw) + rl - (target + delta)
    assert ipo_loss(one_pair(cw, cl, rw, rl), tau=beta).loss.item() == pytest.approx(delta**2, abs=1e-6)
    at_min = torch.tensor(cw - rw + rl - target, dtype=torch.float64, requires_grad=True)
    loss = ipo_loss(PairLogps(t(cw), at_min.reshape(1), t(rw), t(rl)), tau=beta).loss
    assert loss.item() == pytest.approx(0.0, abs=1e-9)
    (grad,) = torch.autograd.grad(loss, at_min)
    assert grad.item() == pytest.approx(0.0, abs=1e-6)


@FAST
@given(logp, logp, st.integers(1, 40), st.integers(1, 40), betas, st.floats(0.0, 2.0))
def test_simpo_never_touches_the_reference(cw, cl, nw, nl, beta, ratio):
    base = PairLogps(t(cw), t(cl), chosen_len=t(nw), rejected_len=t(nl))
    nan = PairLogps(t(cw), t(cl), t(float("nan")), t(float("nan")), t(nw), t(nl))
    a = compute_loss("simpo", base, beta=beta, gamma_beta_ratio=ratio)
    b = compute_loss("simpo", nan, beta=beta, gamma_beta_ratio=ratio)
    assert a.loss.item() == b.loss.item()
    assert all(math.isfinite(v) for v in b.metrics.values())


@FAST
@given(logp, logp, logp, logp, logp, betas, st.floats(0.0, 0.4))
def test_alpha_zero_reduces_selm_and_xpo_to_dpo(cw, cl, rw, rl, sample, beta, eps):
    pair = one_pair(cw, cl, rw, rl, ref_sample=t(sample))
    dpo = dpo_loss(pair, beta=beta, label_smoothing=eps).loss.item()
    for fn in (selm_loss, xpo_loss):
        assert fn(pair, beta=beta, alpha=0.0, label_smoothing=eps).loss.item() == dpo


# ----------------------------------------------------------------------------- TRL (same formulas, their code)
@pytest.fixture(scope="module")
def trl_trainers():
    """TRL's trainers (written against trl 1.16: the DPO loss is inside ``DPOTrainer._compute_loss``,
    SimPO in ``trl.experimental``'s ``CPOTrainer.cpo_loss``)."""
    pytest.importorskip("trl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TRLExperimentalWarning: CPO lives in trl.experimental
        try:
            from trl.experimental.cpo.cpo_trainer import CPOTrainer
            from trl.trainer.dpo_trainer import DPOTrainer
        except ImportError as err:
            pytest.skip(f"this trl has another layout ({err})")
    if not (hasattr(DPOTrainer, "_compute_loss") and hasattr(CPOTrainer, "cpo_loss")):
        pytest.skip("this trl has no DPOTrainer._compute_loss / CPOTrainer.cpo_loss")
    return DPOTrainer, CPOTrainer


def _trl_dpo_loss(dpo_trainer, loss_type, beta, token_logps, mask, ref_chosen, ref_rejected):
    """TRL's DPOTrainer._compute_loss on precomputed per-token log-probs (a stub model returns them)."""
    two_b, width = mask.shape
    stub = SimpleNamespace(
        model=SimpleNamespace(training=True),
        accelerator=SimpleNamespace(device="cpu", gather=lambda x: x, gather_for_metrics=lambda x: x),
        aux_loss_enabled=False, ld_alpha=None, precompute_ref_logps=True, f_divergence_type="reverse_kl",
        loss_types=[loss_type], loss_weights=[1.0], beta=beta, label_smoothing=0.0, use_weighting=False,
        _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0, _tp_size=1,
    )
    outputs = SimpleNamespace(
        log_probs=token_logps * mask[:, 1:], entropy=torch.zeros(two_b, width - 1),
        mean_logits=torch.zeros(two_b, width - 1), is_top1=torch.zeros(two_b, width - 1, dtype=torch.bool),
    )
    inputs = {
        "input_ids": torch.ones(two_b, width, dtype=torch.long), "attention_mask": torch.ones(two_b, width),
        "completion_mask": mask, "ref_chosen_logps": ref_chosen, "ref_rejected_logps": ref_rejected,
    }
    return dpo_trainer._compute_loss(stub, lambda **_: outputs, inputs, return_outputs=False)


@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "ipo"])
def test_matches_trl_dpo_trainer(trl_trainers, loss_type):
    dpo_trainer, _ = trl_trainers
    gen = torch.Generator().manual_seed(7)
    for trial in range(5):
        batch, width = 6, 12
        lengths = torch.randint(1, width - 1, (2 * batch,), generator=gen)
        mask = torch.zeros(2 * batch, width)
        for row, n in enumerate(lengths.tolist()):
            mask[row, width - n:] = 1  # the prompt fills the front, the response the last n tokens
        token_logps = -torch.rand(2 * batch, width - 1, generator=gen, dtype=torch.float64) * 3
        logps = (token_logps * mask[:, 1:]).sum(1)
        ref = logps - torch.randn(2 * batch, generator=gen, dtype=torch.float64) * 2
        beta = [0.05, 0.1, 0.5, 1.0, 2.0][trial]
        expected = _trl_dpo_loss(dpo_trainer, loss_type, beta, token_logps, mask.double(), ref[:batch], ref[batch:])
        if loss_type == "ipo":  # TRL averages IPO's log-ratios per token; ours are as given: pass averages
            n = lengths.double()
            ours = ipo_loss(PairLogps(logps[:batch] / n[:batch], logps[batch:] / n[batch:],
                                      ref[:batch] / n[:batch], ref[batch:] / n[batch:]), tau=beta)
        else:
            fn = {"sigmoid": dpo_loss, "hinge": slic_loss}[loss_type]
            ours = fn(PairLogps(logps[:batch], logps[batch:], ref[:batch], ref[batch:]), beta=beta)
        assert ours.loss.item() == pytest.approx(expected.item(), abs=1e-9)


@pytest.mark.parametrize("loss_type", ["simpo", "sigmoid"])
def test_matches_trl_cpo_loss(trl_trainers, loss_type):
    """SimPO against TRL's CPO ``simpo`` (on length-averaged log-probs, ``simpo_gamma`` = gamma);
    cDPO label smoothing against CPO's reference-free ``sigmoid`` fed with the log-ratios."""
    _, cpo_trainer = trl_trainers
    gen = torch.Generator().manual_seed(11)
    for beta, ratio, eps in [(2.0, 0.5, 0.0), (2.5, 0.3, 0.1), (0.1, 0.5, 0.25), (1.0, 1.2, 0.0)]:
        chosen, rejected = -torch.rand(8, generator=gen, dtype=torch.float64) * 40, -torch.rand(
            8, generator=gen, dtype=torch.float64) * 40
        chosen_len = torch.randint(1, 30, (8,), generator=gen).double()
        rejected_len = torch.randint(1, 30, (8,), generator=gen).double()
        stub = SimpleNamespace(alpha=0.0, beta=beta, loss_type=loss_type, simpo_gamma=ratio * beta,
                               label_smoothing=eps, accelerator=SimpleNamespace(device="cpu"))
        if loss_type == "simpo":
            expected, _, _ = cpo_trainer.cpo_loss(stub, chosen / chosen_len, rejected / rejected_len)
            ours = simpo_loss(PairLogps(chosen, rejected, chosen_len=chosen_len, rejected_len=rejected_len),
                              beta=beta, gamma_beta_ratio=ratio, label_smoothing=eps)
        else:
            ref_chosen, ref_rejected = chosen + torch.randn(8, generator=gen), rejected + torch.randn(8, generator=gen)
            expected, _, _ = cpo_trainer.cpo_loss(stub, chosen - ref_chosen, rejected - ref_rejected)
            ours = dpo_loss(PairLogps(chosen, rejected, ref_chosen, ref_rejected), beta=beta, label_smoothing=eps)
        assert ours.loss.item() == pytest.approx(expected.mean().item(), abs=1e-9)


# ----------------------------------------------------------------------------- gradients (finite differences)
class TinyPolicy(torch.nn.Module):
    """Per-position logits ``W[t]`` over a 5-token vocabulary: lp(y) = sum_t log softmax(W[t] + x*U)[y_t]."""

    def __init__(self, seed: int, positions: int = 4, vocab: int = 5):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.W = torch.nn.Parameter(torch.randn(positions, vocab, generator=gen, dtype=torch.float64))
        self.U = torch.nn.Parameter(torch.randn(vocab, generator=gen, dtype=torch.float64))

    def forward(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        logits = self.W[: responses.shape[1]].unsqueeze(0) + prompts[:, None, None] * self.U
        return logits.log_softmax(-1).gather(-1, responses.unsqueeze(-1)).squeeze(-1).sum(-1)


def _gradcheck(name: str, **hyper):
    """gradcheck compares autograd's gradient of the loss w.r.t. the tiny policy's parameters with
    central finite differences (float64)."""
    policy, reference = TinyPolicy(0), TinyPolicy(1)
    prompts = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    chosen = torch.tensor([[0, 1, 2, 3], [4, 4, 1, 0], [2, 2, 2, 2]])
    rejected = torch.tensor([[3, 2, 1, 0], [0, 1, 4, 4], [1, 3, 0, 2]])
    samples = torch.tensor([[1, 1, 0, 3], [2, 0, 4, 1], [0, 3, 3, 1]])
    with torch.no_grad():
        ref_chosen, ref_rejected = reference(prompts, chosen), reference(prompts, rejected)
    lengths = torch.full((3,), 4.0, dtype=torch.float64)

    def loss_of(w, u):
        def lp(responses):
            return torch.func.functional_call(policy, {"W": w, "U": u}, (prompts, responses))

        pair = PairLogps(lp(chosen), lp(rejected), ref_chosen, ref_rejected, lengths, lengths, lp(samples))
        return compute_loss(name, pair, **hyper).loss

    w = policy.W.detach().clone().requires_grad_()
    u = policy.U.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(loss_of, (w, u), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_dpo_gradient_matches_finite_differences():
    _gradcheck("dpo", beta=0.5, label_smoothing=0.1)


def test_selm_gradient_matches_finite_differences():
    _gradcheck("selm", beta=0.5, alpha=0.3, sft_weight=0.2)
