"""Reward-model labels (sealign/model_labels.py): which pairs get labelled, with what probability."""

from __future__ import annotations

import math

import pytest
import torch

from sealign import model_labels
from sealign.exploration.base import queries_of
from sealign.types import Candidate, Prompt, SignalBatch


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


def test_erm_sync_labels_fill_the_wanted_share_most_confident_first():
    explorer = FixedRewards(REWARDS)
    groups = [group("p", ["a", "b", "c"]), group("q", ["a", "d"]), group("r", ["b", "c"])]
    # 3 answers at ratio 0.5 -> 3 labels wanted; prompt r's best-worst is its queried pair: skipped
    labels = model_labels.erm_sync_labels(explorer, groups, queries_of(groups, [None, None, (0, 1)]), num_answers=3,
                                          ratio=0.5, step=0, run_id="r")
    assert pairs_of(labels) == [("b", "c"), ("d", "a")]
    assert model_labels.erm_sync_labels(explorer, groups, [[]] * 3, num_answers=3, ratio=0.0, step=0,
                                        run_id="r") == []
