"""Reward-model labels (sealign/run/model_labels.py): which pairs get labelled, with what probability."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sealign.exploration.base import queries_of
from sealign.records.types import Candidate, Prompt, SignalBatch
from sealign.run import model_labels
from tests.conftest import group_of, index_pairs
from tests.unit.exploration.test_pair_selection import make_epistemic


class FixedRewards:
    """An explorer stand-in whose reward model's mean is a fixed number per response text."""

    def __init__(self, rewards: dict[str, float]):
        self.rewards = rewards
        self.model = self

    def featurize(self, candidates: list[Candidate]) -> torch.Tensor:
        return torch.tensor([[self.rewards[c.text]] for c in candidates])

    def mean(self, features: torch.Tensor) -> torch.Tensor:
        return features[:, 0]

    def score(self, candidates: list[Candidate]) -> torch.Tensor:
        return self.mean(self.featurize(candidates))


def group(prompt_text: str, texts: list[str]) -> list[Candidate]:
    prompt = Prompt(prompt_text, prompt_text)
    return [Candidate(prompt, [1], [10 + k], text) for k, text in enumerate(texts)]


REWARDS = {"a": 0.5, "b": 2.0, "c": -1.0, "d": 1.0, "e": 0.0, "f": 0.0}


def pairs_of(labels) -> list[tuple[str, str]]:
    return [(c.a.text, c.b.text) for c in labels]


def test_ranked_labels_are_first_and_second_best_against_worst_and_second_worst():
    explorer = FixedRewards(REWARDS)
    labels = model_labels.ranked_labels(explorer, [group("p", ["a", "b", "c", "d", "e"])], step=3, run_id="r")
    # rewards b 2.0 > d 1.0 > a 0.5 > e 0.0 > c -1.0
    assert pairs_of(labels) == [("b", "c"), ("d", "e")]
    assert all(c.source == model_labels.SOURCE and c.step == 3 and c.cost == 0 and c.winner == "a" for c in labels)
    assert labels[0].prob_a == pytest.approx(1 / (1 + math.exp(-3.0)), abs=1e-12)


def test_ranked_labels_with_two_or_three_candidates_give_one_pair_and_skip_ties():
    explorer = FixedRewards(REWARDS)
    assert pairs_of(model_labels.ranked_labels(explorer, [group("p", ["a", "c", "d"])], 0, "r")) == [("d", "c")]
    assert model_labels.ranked_labels(explorer, [group("p", ["e", "f"])], 0, "r") == []  # equal rewards
    two_groups = [group("p", ["e", "f", "b", "c"]), group("q", ["a", "d"])]
    # e and f tie in the middle of the first group: its second pair carries no signal
    assert pairs_of(model_labels.ranked_labels(explorer, two_groups, 0, "r")) == [("b", "c"), ("d", "a")]


def test_signal_labels_are_the_query_pair_and_the_highest_lowest_pair():
    explorer = FixedRewards(REWARDS)
    candidates = [group("p", ["a", "b", "c", "d"])]
    labels = model_labels.signal_labels(explorer, candidates, queries_of(candidates, [(0, 3)]), step=1, run_id="r")
    assert pairs_of(labels) == [("a", "d"), ("b", "c")]
    signals = SignalBatch.from_model_labels(labels).signals
    assert signals == pytest.approx([-0.5, 0.5, 3.0, -3.0], abs=1e-9)  # both orders, r_a - r_b recovered


class HeadScores:
    """An explorer stand-in with fixed per-head scores by response text: ``[K]`` per text."""

    def __init__(self, scores: dict[str, list[float]]):
        self.scores = scores

    def head_scores(self, candidates):
        return torch.tensor([self.scores[c.text] for c in candidates]).T


@pytest.mark.parametrize("seed, asked", [
    (0, [None, None, (0, 1), (0, 1)]),  # draws p0, p1, p2; p2's responses are one text, so it is asked as usual
    (4, [None, None, (0, 1), None]),  # draws p0, p1, p3
])
def test_erm_sync_labels_a_share_of_prompts_instead_of_asking_with_one_heads_largest_margin(seed, asked):
    scores = {"a": [0.0, 0.0], "b": [1.0, 1.0], "c": [-2.0, -2.0], "d": [0.5, 0.5]}
    candidates = [group_of(["a", "b", "c"], "p0"), group_of(["a", "d", "a"], "p1"),
                  group_of(["b", "b", "b"], "p2"), group_of(["c", "d", "a"], "p3")]
    queried = queries_of(candidates, [(0, 1), (0, 1), (0, 1), (0, 1)])
    queries, labels = model_labels.replace_with_model_labels(
        HeadScores(scores), candidates, queried, 0.75, np.random.default_rng(seed), step=7, run_id="r")
    # floor(0.75 * 4) = 3 prompts drawn, each labelled instead of asked unless its responses are all one text
    assert [index_pairs([g], [qs])[0] for g, qs in zip(candidates, queries)] == asked
    # each label is the largest margin among distinct texts: p0 b (1.0) vs c (-2.0); p1 a (0.0) vs d (0.5)
    expected = {"p0": {"b", "c"}, "p1": {"a", "d"}, "p3": {"c", "d"}}
    drawn = {f"p{row}" for row, pair in enumerate(asked) if pair is None}
    assert {label.prompt.text: {label.a.text, label.b.text} for label in labels} == {
        prompt: pair for prompt, pair in expected.items() if prompt in drawn}
    for label in labels:
        assert label.source == model_labels.SOURCE and label.step == 7
        assert label.winner == ("a" if scores[label.a.text][0] > scores[label.b.text][0] else "b")


def test_model_labels_rank_with_the_length_penalised_score():
    reward_model = make_epistemic(length_penalty=1.0).reward_model
    torch.manual_seed(0)
    short, verbose = group_of(["0.5", "0.5 and a great many more words"])
    scores = model_labels.mean_rewards(reward_model, [[short, verbose]])[0]
    assert scores[0] - scores[1] == pytest.approx(len(verbose.text) - len(short.text), rel=1e-4)
    label = model_labels.ranked_labels(reward_model, [[short, verbose]], step=0, run_id="r")[0]
    assert (label.a.text, label.winner) == ("0.5", "a")


def test_erm_sync_labels_fill_the_wanted_share_most_confident_first():
    explorer = FixedRewards(REWARDS)
    groups = [group("p", ["a", "b", "c"]), group("q", ["a", "d"]), group("r", ["b", "c"])]
    # 3 answers at ratio 0.5 -> 3 labels wanted; prompt r's best-worst is its queried pair: skipped
    labels = model_labels.erm_sync_labels(explorer, groups, queries_of(groups, [None, None, (0, 1)]), num_answers=3,
                                          ratio=0.5, step=0, run_id="r")
    assert pairs_of(labels) == [("b", "c"), ("d", "a")]
    assert model_labels.erm_sync_labels(explorer, groups, [[]] * 3, num_answers=3, ratio=0.0, step=0,
                                        run_id="r") == []


# ----------------------------------------------------------------------------- the label plan
def test_the_label_plan_says_what_each_step_learns_from():
    from sealign.config import RunConfig
    from sealign.exploration.base import ExplorerPowers
    from sealign.run.label_plan import LabelPlan

    class Deriver:
        label_source = "ranked"

    answers, labels = ["answer"], ["label"]
    plain = LabelPlan.build(RunConfig(), ExplorerPowers())
    assert plain.erm(10) is None and not plain.labels_after_answers(10)
    assert plain.policy_data(answers, labels) == answers + labels and plain.round_source == "oracle"

    for mode in ("replace", "add"):  # ERM sync: off in the burn-in, then its mode
        erm = LabelPlan.build(RunConfig(erm_sync=0.3, erm_mode=mode, erm_burn_in=2), ExplorerPowers())
        assert [erm.erm(step) for step in range(4)] == [None, None, mode, mode]
        assert [erm.labels_after_answers(step) for step in range(4)] == [False, False, mode == "add", mode == "add"]
        assert erm.policy_data(answers, labels) == answers + labels  # the labels join the answers

    signals = LabelPlan.build(RunConfig(loss="reinforce", policy_signal="reward-model", query_free_batch=True),
                              ExplorerPowers())
    assert signals.reward_model_signals and signals.query_free_batch and signals.labels_after_answers(0)
    assert signals.policy_data(answers, labels) == labels

    derived = LabelPlan.build(RunConfig(), ExplorerPowers(pair_deriver=Deriver()))
    assert derived.labels_after_answers(0) and derived.policy_data(answers, labels) == labels
    assert derived.round_source == "ranked"
    assert LabelPlan.build(RunConfig(), ExplorerPowers(reference_b=True)).reference_b
