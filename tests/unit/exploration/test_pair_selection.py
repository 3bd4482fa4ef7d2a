"""Which pair an explorer asks about, by hand: distinct texts only, the gap-seeking and headroom rules, the
uncertainty measures, APL's prompt filter, and the reward model's direction and extremes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sealign.exploration import delta_ucb, drts, headroom, passive
from sealign.types import Candidate, Prompt


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
