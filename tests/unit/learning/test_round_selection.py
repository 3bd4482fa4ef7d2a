"""Picking an iterative run's best round on a validation split (sealign/run/round_selection.py)."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import ConfigError
from sealign.records.types import Prompt
from sealign.run import round_selection

PROMPTS = [Prompt(f"p{i}", f"post number {i}") for i in range(3)]


class ScoreByText:
    def __init__(self, scores: dict[str, float]):
        self.scores = scores

    def score(self, candidates):
        return torch.tensor([float(self.scores[c.text]) for c in candidates])


class RecordingLearner:
    def __init__(self):
        self.loaded = None

    def load_weights(self, state):
        self.loaded = state


def write_round(run_dir, k: int, texts: list[str], weight: float):
    folder = run_dir / "rounds"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": p.text, "prompt_ids": [1], "token_ids": [2], "text": t} for p, t in zip(PROMPTS, texts)]
    (folder / f"round-{k}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    torch.save({"w": torch.full((2,), weight)}, folder / f"round-{k}.pt")


def parts_with(scores):
    synced = []
    actor = SimpleNamespace(sync_weights=lambda learner: synced.append(learner))
    return SimpleNamespace(reward_model=ScoreByText(scores), learner=RecordingLearner(), actor=actor), synced


def test_the_round_with_the_highest_mean_score_is_restored(tmp_path):
    for k, texts in enumerate([["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i"]], start=1):
        write_round(tmp_path, k, texts, weight=float(k))
    scores = dict(a=0, b=0, c=0, d=1, e=2, f=0, g=1, h=0, i=1)  # round means 0, 1, 2/3
    parts, synced = parts_with(scores)
    picked = round_selection.select_best_round(parts, tmp_path, 3, PROMPTS)
    assert picked["validation/best_round"] == 2
    assert picked["validation/round_1"] == 0 and picked["validation/round_2"] == pytest.approx(1.0)
    assert torch.equal(parts.learner.loaded["w"], torch.full((2,), 2.0)) and synced == [parts.learner]


def test_ties_and_a_best_last_round_keep_the_last_weights(tmp_path):
    for k in (1, 2):
        write_round(tmp_path, k, ["x", "y", "z"], weight=float(k))
    parts, synced = parts_with(dict(x=1, y=1, z=1))
    assert round_selection.select_best_round(parts, tmp_path, 2, PROMPTS)["validation/best_round"] == 2
    assert parts.learner.loaded is None and synced == []  # nothing to restore


def test_record_round_snapshots_the_weights_and_answers_with_the_same_seeds(tiny_policy, tmp_path):
    policy = copy.deepcopy(tiny_policy)
    parts = SimpleNamespace(policy=policy)
    config = RunConfig(max_new_tokens=6, eval_temperature=1.0)
    round_selection.record_round(config, parts, tmp_path, 1, PROMPTS)
    round_selection.record_round(config, parts, tmp_path, 2, PROMPTS)
    one, two = ((tmp_path / "rounds" / f"round-{k}.jsonl").read_text() for k in (1, 2))
    assert one == two and len(one.splitlines()) == len(PROMPTS)  # same weights, same seeds: same answers
    saved = torch.load(tmp_path / "rounds" / "round-1.pt", weights_only=True)
    assert saved.keys() == policy.trainable_state().keys()
    assert all(torch.equal(saved[k], v) for k, v in policy.trainable_state().items())
    assert not list((tmp_path / "rounds").glob("*.tmp"))


def test_validation_needs_an_iterative_schedule_and_an_explorer_that_scores():
    with pytest.raises(ConfigError, match="needs --schedule iterative"):
        RunConfig(validation_prompts=8).validate()
    with pytest.raises(ConfigError, match="validation_prompts must be >= 0"):
        RunConfig(schedule="iterative", validation_prompts=-1).validate()
    with pytest.raises(ConfigError, match="scores responses"):
        round_selection.require_scorer(None)
