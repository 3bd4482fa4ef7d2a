"""Epistemic reward model, pair-selection rules and explorers. Fast: small tensors only."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sealign.config import RunConfig
from sealign.exploration import PAIR_RULES, REGISTRY, build_explorer, ids, pair_rule, sea_bai, sea_ee
from sealign.exploration.base import HasRewardModel
from sealign.exploration.epistemic import EnsembleRewardModel, mlp_forward
from sealign.exploration.rules import win_prob_variance
from sealign.records.types import Candidate, Comparison, Prompt
from sealign.run.explorer_inputs import explorer_inputs
from tests.conftest import index_pairs

torch.set_num_threads(1)

# A hand-made posterior: K = 3 heads (rows) over M = 3 candidates (columns).
HAND = torch.tensor([[1.0, 0.0, 3.0],
                     [1.0, 0.0, -3.0],
                     [0.0, 1.0, -3.0]])


class FixedRng:
    """Stands in for np.random.Generator where a test must pin the posterior sample drawn."""

    def __init__(self, order):
        self.order = list(order)

    def permutation(self, n):
        return np.array(self.order)

    def integers(self, n):
        return self.order[0]


# ---------------------------------------------------------------------------------- pair rules
def test_win_prob_variance_by_hand():
    # Pair (0, 1): r0 - r1 = (1, 1, -1) per head, so P = (s1, s1, 1 - s1) with s1 = sigmoid(1);
    # the population variance of (a, a, b) is 2/9 (a - b)^2.
    s1 = 1 / (1 + math.exp(-1))
    v01 = 2 / 9 * (s1 - (1 - s1)) ** 2
    # Pair (1, 2): r1 - r2 = (-3, 3, 4): P = (sigmoid(-3), sigmoid(3), sigmoid(4)).
    p = [1 / (1 + math.exp(-d)) for d in (-3, 3, 4)]
    v12 = sum((x - sum(p) / 3) ** 2 for x in p) / 3
    variance = win_prob_variance(HAND)
    assert variance[0, 1] == pytest.approx(v01, abs=1e-6) == pytest.approx(0.047456, abs=1e-6)
    assert variance[1, 2] == pytest.approx(v12, abs=1e-6) == pytest.approx(0.188179, abs=1e-6)
    assert variance[0, 2] == pytest.approx(0.159980, abs=1e-6)
    assert torch.allclose(variance, variance.T) and variance.diagonal().abs().max() == 0


def test_uncertainty_picks_most_uncertain_pair():
    assert pair_rule("uncertainty")(HAND, np.random.default_rng(0)) == (1, 2)  # 0.188 > 0.160 > 0.047


def test_ids_by_hand():
    # Per-head best: (3, 1, 1). Delta_01 = mean(3-0.5, 1-0.5, 1-0.5) = 7/6,
    # Delta_02 = mean(3-2, 1+1, 1+1.5) = 11/6, Delta_12 = mean(3-1.5, 1+1.5, 1+1) = 2.
    ratio, regret, gain = ids.information_ratio(HAND)
    assert regret[0, 1] == pytest.approx(7 / 6) and regret[0, 2] == pytest.approx(11 / 6)
    assert regret[1, 2] == pytest.approx(2.0)
    # Ratios: (7/6)^2/0.047456 = 28.68, (11/6)^2/0.159980 = 21.01, 2^2/0.188179 = 21.26.
    assert ratio[0, 1] == pytest.approx(28.681, abs=1e-2)
    assert ratio[0, 2] == pytest.approx(21.010, abs=1e-2)
    assert ratio[1, 2] == pytest.approx(21.256, abs=1e-2)
    # IDS trades regret for information: not the most uncertain pair (1, 2), but (0, 2).
    assert ids.select_pair(HAND) == (0, 2)


def test_sea_bai_by_hand():
    # Head 0's best is 2; of V[2, 0] = 0.160 and V[2, 1] = 0.188 the larger is candidate 1.
    assert sea_bai.select_pair(HAND, FixedRng([0])) == (2, 1)
    assert sea_bai.select_pair(HAND, FixedRng([1])) == (0, 2)  # head 1's best 0; V02 > V01
    assert sea_bai.select_pair(HAND, FixedRng([2])) == (1, 2)  # head 2's best 1; V12 > V10


def test_sea_ee_by_hand_and_fallbacks():
    assert sea_ee.select_pair(HAND, FixedRng([0, 1, 2])) == (2, 0)  # head 0 -> 2, head 1 -> 0
    assert sea_ee.select_pair(HAND, FixedRng([1, 2, 0])) == (0, 1)
    agree = torch.tensor([[3.0, 2.0, 0.0], [3.0, 0.0, 1.0]])  # every head's best is 0
    assert sea_ee.select_pair(agree, FixedRng([0, 1]), fallback="second-best") == (0, 2)
    y1, y2 = sea_ee.select_pair(agree, np.random.default_rng(0))
    assert y1 == 0 and y2 in (1, 2)
    assert sea_ee.select_pair(agree, FixedRng([0, 1]), max_tries=0, fallback="second-best") == (0, 1)


def test_mean_rules_by_hand():
    # Mean rewards (2/3, 1/3, -1): best 0, worst 2, also the largest margin.
    assert pair_rule("best-worst")(HAND, None) == (0, 2)
    assert pair_rule("apl")(HAND, None) == (0, 2)
    assert pair_rule("best-worst")(torch.ones(4, 5), None) is None  # a tie: no informative pair


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 6), m=st.integers(2, 7), seed=st.integers(0, 10_000), ties=st.booleans())
def test_every_rule_returns_two_distinct_candidates(k, m, seed, ties):
    gen = torch.Generator().manual_seed(seed)
    rewards = torch.randn(k, m, generator=gen)
    if ties:  # many equal values: argmax ties everywhere
        rewards = rewards.round()
    for name in PAIR_RULES:  # not selm-rank, pairwise-rank, xpo: they have no rule over rewards
        pair = pair_rule(name)(rewards, np.random.default_rng(seed))
        if pair is None:
            assert name == "best-worst"
            continue
        i, j = pair
        assert i != j and 0 <= i < m and 0 <= j < m, (name, pair)


@pytest.mark.parametrize("name", ["sea-ee", "sea-bai", "passive"])
def test_thompson_selection_reproducible_under_seed(name):
    rewards = torch.randn(10, 6, generator=torch.Generator().manual_seed(0))
    rule = pair_rule(name)
    draws = [[rule(rewards, rng) for _ in range(20)] for rng in
             (np.random.default_rng(7), np.random.default_rng(7), np.random.default_rng(8))]
    assert draws[0] == draws[1]
    assert draws[0] != draws[2]  # and the seed matters: the pairs really are sampled


# ---------------------------------------------------------------------------------- ensemble
def linear_preferences(n, dim, gen, w):
    a, b = torch.randn(n, dim, generator=gen), torch.randn(n, dim, generator=gen)
    return a, b, ((a - b) @ w > 0).float()


def test_batched_heads_match_a_loop_over_heads():
    model = EnsembleRewardModel(5, num_heads=4, width=8, depth=2, prior_scale=0.7)
    x = torch.randn(6, 5)
    batched = model.rewards(x)
    for k in range(4):
        head = [(w[k: k + 1], b[k: k + 1]) for w, b in model._layers()]
        prior = [(w[k: k + 1], b[k: k + 1]) for w, b in model.prior]
        expected = mlp_forward(head, x) + 0.7 * mlp_forward(prior, x)
        assert torch.allclose(batched[k], expected[0].detach(), atol=1e-5)


def test_bt_training_separates_a_linearly_separable_set():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(8, generator=gen)
    model = EnsembleRewardModel(8, num_heads=8, width=32, depth=1, steps=150, batch_size=128, seed=0)
    model.add(*linear_preferences(600, 8, gen, w))
    metrics = model.fit()
    fa, fb, labels = linear_preferences(500, 8, gen, w)  # held out
    accuracy = ((model.mean(fa) > model.mean(fb)).float() == labels).float().mean()
    assert accuracy > 0.9 and metrics["rm/accuracy"] > 0.9


def test_std_shrinks_on_seen_data_and_stays_wide_off_data():
    gen = torch.Generator().manual_seed(1)
    dim = 4
    w = torch.randn(dim, generator=gen)
    model = EnsembleRewardModel(dim, num_heads=10, width=32, depth=1, steps=200, batch_size=128, seed=1)
    # Seen: inputs near the origin (|x| ~ 0.5 per coordinate). Off: far along other directions.
    seen = 0.5 * torch.randn(8, dim, generator=gen)
    off = 4.0 * torch.randn(8, dim, generator=gen)
    before_seen, before_off = model.std(seen).mean(), model.std(off).mean()
    a, b = 0.5 * torch.randn(800, dim, generator=gen), 0.5 * torch.randn(800, dim, generator=gen)
    model.add(a, b, torch.bernoulli(torch.sigmoid((a - b) @ w), generator=gen))
    model.fit()
    after_seen, after_off = model.std(seen).mean(), model.std(off).mean()
    assert after_seen < 0.5 * before_seen  # measured: 0.55 -> 0.20
    # Off the data the heads still disagree (their priors are untouched there): 4.8 -> 2.2.
    assert after_off > 0.3 * before_off and after_off > 5 * after_seen


def test_bootstrap_weights_differ_per_head_and_are_fixed():
    model = EnsembleRewardModel(3, num_heads=6, width=4, bootstrap="poisson")
    model.add(torch.randn(50, 3), torch.randn(50, 3), torch.ones(50))
    weights = model.buffer.columns["weights"][:50]
    assert weights.shape == (50, 6) and not torch.equal(weights[:, 0], weights[:, 1])
    assert (weights >= 0).all() and weights.mean() == pytest.approx(1.0, abs=0.25)


# ---------------------------------------------------------------------------------- with an LLM
@pytest.fixture(scope="module")
def tiny_policy():
    from transformers import LlamaConfig, LlamaForCausalLM

    from sealign.policy.builtin import train_tokenizer
    from sealign.policy.hf import HFPolicy

    texts = ["the cat sat on the mat", "a dog ran in the park", "summarise: the meeting was long",
             "birds sing in the morning", "the rain fell all day"] * 4
    tokenizer = train_tokenizer(texts, vocab_size=80)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    return HFPolicy(LlamaForCausalLM(config), tokenizer, device="cpu")


def sample_candidates(policy, m=4):
    prompts = [Prompt("p0", "the cat sat"), Prompt("p1", "a dog ran in the")]
    prompt_ids = policy.encode_prompts([p.text for p in prompts])
    torch.manual_seed(0)
    responses = policy.generate(prompt_ids, n=m, temperature=1.0, max_new_tokens=6)
    return [[Candidate(p, ids, r, policy.decode(r)) for r in group]
            for p, ids, group in zip(prompts, prompt_ids, responses)]


def fake_answers(candidates, pairs):
    return [Comparison(id=f"c{n}", run_id="t", step=0, prompt=group[i].prompt, a=group[i], b=group[j],
                       winner="a" if n % 2 else "b", prob_a=None, oracle="test")
            for n, (group, (i, j)) in enumerate(zip(candidates, pairs))]


# pairwise-rank builds the built-in preference model (minutes): tests/unit/exploration/test_pairwise_rank.py covers it.
@pytest.mark.parametrize("name", sorted(set(REGISTRY) - {"pairwise-rank"}))
def test_explorers_with_a_real_hf_policy(tiny_policy, name):
    config = RunConfig(explorer=name, explore_heads=4, explore_width=16, explore_steps=2,
                       reference_candidates=int(name == "xpo"))
    explorer = build_explorer(config, tiny_policy, **explorer_inputs(config, tiny_policy))
    candidates = sample_candidates(tiny_policy)
    pairs = index_pairs(candidates, explorer.select(candidates, np.random.default_rng(0)))
    assert len(pairs) == len(candidates)
    for group, pair in zip(candidates, pairs):
        if pair is not None:
            assert pair[0] != pair[1] and all(0 <= x < len(group) for x in pair)
    answered = [(g, p) for g, p in zip(candidates, pairs) if p is not None]
    metrics = explorer.update(fake_answers(*zip(*answered))) if answered else {}
    if isinstance(explorer, HasRewardModel):
        assert explorer.reward_model.featurize(candidates[0]).shape == (4, tiny_policy.model.config.hidden_size)
        assert metrics["explore/rm/buffer"] == len(answered)
        # Reproducible: the same seed picks the same pairs.
        assert explorer.select(candidates, np.random.default_rng(0)) == explorer.select(
            candidates, np.random.default_rng(0))


def test_backbone_features_ignore_padding_and_batch_company(tiny_policy):
    config = RunConfig(explorer="sea-ee", explore_heads=2, explore_width=8)
    features = build_explorer(config, tiny_policy).reward_model.features
    group = sample_candidates(tiny_policy)[1]
    longest = max(group, key=lambda c: len(c.token_ids))
    shortest = min(group, key=lambda c: len(c.token_ids))
    together = features([shortest, longest])
    alone = features([shortest])
    assert torch.allclose(together[0], alone[0], atol=1e-4)
    assert features([longest]).shape == (1, 32)


def test_apl_prompt_filter_keeps_most_uncertain(tiny_policy):
    config = RunConfig(explorer="apl", apl_prompt_fraction=0.5)
    explorer = build_explorer(config, tiny_policy)
    queries = explorer.select(sample_candidates(tiny_policy), np.random.default_rng(0))
    assert sum(len(qs) for qs in queries) == 1


def test_ensemble_state_dict_resumes_exactly(tmp_path):
    def trained(seed):
        model = EnsembleRewardModel(4, num_heads=3, width=8, steps=3, seed=seed)
        gen = torch.Generator().manual_seed(0)
        model.add(torch.randn(20, 4, generator=gen), torch.randn(20, 4, generator=gen), torch.ones(20))
        model.fit()
        return model

    original = trained(0)
    torch.save(original.state_dict(), tmp_path / "rm.pt")
    resumed = trained(1)  # other weights, other generator: everything must come from the file
    resumed.load_state_dict(torch.load(tmp_path / "rm.pt"))
    x = torch.randn(5, 4)
    assert torch.equal(original.rewards(x), resumed.rewards(x))
    new_a, new_b = torch.randn(7, 4), torch.randn(7, 4)
    for model in (original, resumed):
        model.add(new_a, new_b, torch.zeros(7))
    # The new rows are identical; their bootstrap weights and the minibatches come from the
    # restored generator, so both continue along the same path.
    original.fit(), resumed.fit()
    assert torch.allclose(original.rewards(x), resumed.rewards(x))


def test_length_penalty_ranks_against_verbose_candidates():
    from sealign.exploration.epistemic_explorer import EpistemicExplorer
    from sealign.exploration.epistemic_reward import EpistemicRewardModel
    from sealign.records.types import Candidate, Prompt

    class FlatFeatures:  # every candidate looks the same to the heads: only the penalty differs
        dim = 2

        def __call__(self, candidates):
            return torch.ones(len(candidates), 2)

    class ZeroModel:
        def rewards(self, features):
            return torch.zeros(3, features.shape[0])

    captured = {}

    def rule(rewards, rng):
        captured["rewards"] = rewards
        return int(rewards[0].argmax()), int(rewards[0].argmin())

    prompt = Prompt("p", "x")
    group = [Candidate(prompt, [1], [k], text) for k, text in enumerate(["short", "a much longer answer", "mid one"])]
    explorer = EpistemicExplorer(EpistemicRewardModel(FlatFeatures(), ZeroModel(), length_penalty=0.01), rule)
    assert index_pairs([group], explorer.select([group], np.random.default_rng(0))) == [(0, 1)]
    assert torch.allclose(captured["rewards"][0], torch.tensor([-0.05, -0.20, -0.07]))


def test_the_true_reward_and_the_preference_encoder_are_the_built_in_tasks_only():
    from sealign.errors import ConfigError
    from sealign.run.explorer_inputs import resolve_features, true_reward

    own_prompts = RunConfig(explorer="headroom-max-gap", prompts="my_prompts.jsonl")
    with pytest.raises(ConfigError, match="--reward-fn"):
        true_reward(own_prompts)
    fn = true_reward(RunConfig(explorer="headroom-max-gap"))["reward_fn"]
    assert callable(fn)
    assert resolve_features(RunConfig()) == RunConfig()  # nothing to resolve
    with pytest.raises(ConfigError, match="preference model"):
        resolve_features(RunConfig(explore_features="pairwise", task="tldr-hard"))
