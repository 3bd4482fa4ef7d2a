"""Recipes whose shape shows only in a real run, on the tiny random policy (seconds): periodic DPO restarts
from the initial policy each period, and SELM asks about triples and spends exactly its budget."""

from __future__ import annotations

import torch

from sealign.cli_flags import resolve_config
from sealign.config import RunConfig


def tiny_preset_config(preset: str, tmp_path, policy_folder, *flags: str) -> RunConfig:
    """``--preset preset`` on the tiny policy: a run of seconds."""
    return resolve_config(["--preset", preset, "--policy", str(policy_folder), "--out-dir", str(tmp_path),
                           "--run-name", preset, "--batch-size", "8", "--max-new-tokens", "6",
                           "--num-train-prompts", "64", "--num-eval-prompts", "4", "--threads", "1", *flags])


def test_periodic_restarts_each_period_from_the_initial_policy(tmp_path, tiny_policy_folder, monkeypatch):
    from sealign.learning.learner import PreferenceLearner
    from sealign.run.loop import run

    weights = lambda learner: {k: v.detach().clone() for k, v in learner.policy.model.state_dict().items()}  # noqa: E731
    starts, ends = [], []
    train_epochs = PreferenceLearner.train_epochs

    def watched(self, *args, **kwargs):
        starts.append(weights(self))
        result = train_epochs(self, *args, **kwargs)
        ends.append(weights(self))
        return result

    monkeypatch.setattr(PreferenceLearner, "train_epochs", watched)
    run(tiny_preset_config("periodic", tmp_path, tiny_policy_folder, "--budget", "32"), log=lambda _: None)
    same = lambda a, b: all(torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    assert len(starts) == 4  # one training per period
    assert all(not same(start, end) for start, end in zip(starts, ends))  # each period trains ...
    assert all(same(start, starts[0]) for start in starts[1:])  # ... from the initial weights, not the last


def test_selm_asks_three_questions_per_prompt_and_never_overshoots_a_budget_that_is_no_multiple(
        tmp_path, tiny_policy_folder):
    from collections import Counter

    from sealign.records.feedback_log import FeedbackLog
    from sealign.run.loop import run

    config = tiny_preset_config("selm", tmp_path, tiny_policy_folder, "--budget", "40")
    shares = [13, 13, 14]  # three rounds of 40 // 3, the last taking the rest
    summary = run(config, log=lambda _: None)
    with FeedbackLog(tmp_path / "selm" / "feedback.sqlite", config.name) as feedback:
        answers = feedback.read()
    assert summary["queries"] == len(answers) == 40
    assert sorted(Counter(c.step for c in answers).items()) == list(enumerate(shares))
    for step, share in enumerate(shares):
        asked = Counter(c.prompt.id for c in answers if c.step == step)
        *full, last = asked.values()  # in the order asked: the round's last prompt asks what is left
        assert full == [3] * (share // 3) and last == share % 3
        for prompt in list(asked)[:-1]:  # the three pairs of one triple {y_w, y_l, y}
            pairs = {frozenset((c.a.text, c.b.text)) for c in answers if c.step == step and c.prompt.id == prompt}
            texts = set().union(*pairs)
            assert len(texts) == 3 and pairs == {frozenset((x, y)) for x in texts for y in texts if x != y}
