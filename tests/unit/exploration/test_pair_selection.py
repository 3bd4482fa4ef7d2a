"""Which pair an explorer asks about, by hand: distinct texts only, the gap-seeking and headroom rules, the
uncertainty measures, APL's prompt filter, and the reward model's direction and extremes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sealign.config import RunConfig
from sealign.exploration import delta_ucb, drts, headroom, passive
from sealign.exploration.epistemic_explorer import EpistemicExplorer
from sealign.exploration.epistemic_reward import EpistemicRewardModel
from sealign.records.types import Candidate, Prompt
from tests.conftest import answer, group_of, index_pairs


def candidates_of(texts, prompt="post"):
    p = Prompt("p", prompt)
    return [Candidate(p, torch.tensor([1]), torch.tensor([k]), t) for k, t in enumerate(texts)]


def test_passive_asks_only_about_distinct_texts_and_skips_a_prompt_of_one_text():
    group = candidates_of(["a", "a", "b", "a"])
    explorer = passive.PassiveExplorer()
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        [[query]] = explorer.select([group], rng)
        assert query.a.text != query.b.text
        seen.add((group.index(query.a), group.index(query.b)))
    assert seen == {(0, 2), (1, 2), (2, 3)}  # every distinct pair, and only those
    assert explorer.select([candidates_of(["a", "a"])], rng) == [[]]
    # the control of earlier versions pays for duplicates
    anyone = passive.PassiveExplorer(distinct=False)
    assert any(q.a.text == q.b.text for _ in range(50) for [q] in anyone.select([group], rng))


# K = 2 heads over M = 3 candidates
GAP = torch.tensor([[2.0, 0.0, 1.0],
                    [0.0, 1.0, -1.0]])


class Order:
    def __init__(self, order):
        self.order = order

    def permutation(self, n):
        return np.array(self.order)

    def integers(self, n):
        return 0


def test_double_reverse_thompson_sampling_pairs_one_heads_best_with_anothers_worst():
    assert drts.select_pair(GAP, Order([0, 1])) == (0, 2)  # head 0's best (0), head 1's worst (2)
    # head 1's best (1) is head 0's worst too: a random other candidate (the stand-in rng draws 0)
    assert drts.select_pair(GAP, Order([1, 0])) == (1, 0)
    # every tried head's worst is the first's best: a random other candidate
    same = torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    assert drts.select_pair(same, Order([0, 1]))[0] == 2 and drts.select_pair(same, Order([0, 1]))[1] != 2


def test_delta_ucb_picks_the_largest_optimistic_gap():
    # mean [1, 0.5, 0], spread [1, 0.5, 1]: U[i, j] = (mu_i + s_i) - (mu_j - s_j)
    bounds = delta_ucb.gap_upper_bounds(GAP)
    assert bounds[0, 2] == pytest.approx(2 - (-1))
    assert bounds[2, 0] == pytest.approx(1 - 0)
    assert bounds[0, 1] == pytest.approx(2 - 0)
    assert torch.isinf(bounds.diagonal()).all()
    assert delta_ucb.select_pair(GAP) == (0, 2)
    assert delta_ucb.select_pair(GAP, beta=0.0) == (0, 2)  # the mean gap alone: 1 - 0


def test_headroom_references_pick_the_largest_and_the_smallest_true_gap():
    rewards = {"w": 0.0, "x": 0.9, "y": 0.5, "z": 0.45}
    group = candidates_of(["w", "x", "y", "z", "y"])
    fn = lambda prompt, text: rewards[text]  # noqa: E731
    [[widest]] = headroom.TrueRewardReference(fn, largest=True).select([group], None)
    assert (widest.a.text, widest.b.text) == ("w", "x")
    [[closest]] = headroom.TrueRewardReference(fn, largest=False).select([group], None)
    assert (closest.a.text, closest.b.text) == ("y", "z")  # never the two identical "y"
    assert headroom.TrueRewardReference(lambda p, t: None, True).select([group], None) == [[]]


def test_uncertainty_by_win_probability_and_by_logit_variance_pick_the_pairs_computed_by_hand():
    from sealign.exploration import sea_bai, uncertainty
    from sealign.exploration.rules import logit_variance

    rewards = torch.tensor([[20.0, 10.0, 19.0], [20.0, 0.0, 21.0]])
    # the probability variance of (0, 2) is 0.053, of (1, 2) 4e-9: the heads agree that 1 loses to 2
    assert uncertainty.select_pair(rewards) == (0, 2)
    assert logit_variance(rewards)[0].tolist() == [0.0, 25.0, 1.0]

    class Head0:
        def integers(self, n):
            return 0

    assert sea_bai.select_pair(rewards, Head0()) == (0, 2)  # prob: the answer about 1 is certain
    assert sea_bai.select_pair(rewards, Head0(), uncertainty="logit") == (0, 1)  # oat's choice


def test_apl_keeps_the_prompt_of_highest_sequence_entropy(tiny_policy):
    from sealign.exploration.apl import APLExplorer, keep_most_uncertain

    assert keep_most_uncertain(torch.tensor([0.1, 3.0, 2.0, -1.0]), 0.5).tolist() == [False, True, True, False]
    explorer = APLExplorer(tiny_policy, beta=0.1, prompt_fraction=0.5)
    prompts = [Prompt("p0", "the cat sat"), Prompt("p1", "a dog ran in the")]
    ids = tiny_policy.encode_prompts([p.text for p in prompts])
    # one prompt with long responses, one with one-token responses: sequence entropy differs by length
    groups = [[Candidate(prompts[0], ids[0], [5, 6, 7, 8, 9, 10], "long"), Candidate(prompts[0], ids[0], [6] * 6, "l")],
              [Candidate(prompts[1], ids[1], [5], "s"), Candidate(prompts[1], ids[1], [6], "s2")]]
    _, nll = explorer.scores([c for g in groups for c in g])
    expected = int(torch.stack([nll[:2].mean(), nll[2:].mean()]).argmax())
    queries = explorer.select(groups, np.random.default_rng(0))
    assert [bool(qs) for qs in queries] == [k == expected for k in range(2)]
    assert expected == 0  # summed log-probs: six tokens are less likely than one


class LinearFeatures:
    """Features [1, x] where x is a number written in the response text."""

    dim = 2

    def __call__(self, candidates):
        return torch.tensor([[1.0, float(c.text.split()[0])] for c in candidates])


def make_epistemic(length_penalty: float = 0.0) -> EpistemicExplorer:
    from sealign.exploration.epistemic import EnsembleRewardModel
    from sealign.exploration.passive import select_pair

    model = EnsembleRewardModel(2, num_heads=4, width=8, depth=1, prior_scale=0.1, lr=0.05, weight_decay=0.0,
                                reg_weight=0.01, steps=60, batch_size=64, bootstrap="none", seed=0)
    return EpistemicExplorer(EpistemicRewardModel(LinearFeatures(), model, length_penalty=length_penalty), select_pair)


def test_the_explorer_learns_the_answers_direction():
    torch.manual_seed(0)
    explorer = make_epistemic()
    rng = np.random.default_rng(0)
    answers = []
    for _ in range(64):  # the candidate with the larger x is always preferred
        x, y = rng.uniform(-1, 1, 2)
        a, b = group_of([f"{x:.3f}", f"{y:.3f}"])
        answers.append(answer(a, b, "a" if x > y else "b"))
    explorer.reward_model.featurize([c for comp in answers for c in (comp.a, comp.b)])
    explorer.update(answers)
    low, high = group_of(["-0.8", "0.8"])
    means = explorer.reward_model.score([low, high])
    assert means[1] > means[0] + 0.5


def test_best_worst_with_a_real_policy_asks_about_the_reward_models_best_and_worst(tiny_policy):
    from sealign.exploration import build_explorer

    explorer = build_explorer(RunConfig(explorer="best-worst", explore_heads=4, explore_width=16), tiny_policy)
    prompt = Prompt("p", "the cat sat")
    ids = tiny_policy.encode_prompts([prompt.text])[0]
    group = [Candidate(prompt, ids, tokens, str(k)) for k, tokens in enumerate([[5, 6], [7], [8, 9, 10], [11]])]
    means = explorer.reward_model.score(group)
    (pair,) = index_pairs([group], explorer.select([group], np.random.default_rng(0)))
    assert set(pair) == {int(means.argmax()), int(means.argmin())}
