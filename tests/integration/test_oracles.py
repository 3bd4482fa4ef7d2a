"""Oracles in a real run on the tiny random policy: a reward that is sometimes NaN, inf or None leaves
only real answers in the log, and every skipped query counted and spent."""

from __future__ import annotations

from collections import Counter

import pytest

from sealign.config import RunConfig
from sealign.oracles.base import Verdict
from sealign.oracles.simulator import BradleyTerrySimulator
from sealign.records.feedback_log import FeedbackLog
from sealign.records.tracking import read_metrics
from tests.unit.oracles.test_faults import unusable


# ----------------------------------------------------------------------------- the real loop
@pytest.fixture(scope="module")
def tiny_policy_dir(tiny_policy, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-policy")
    tiny_policy.save(path)
    return path


def test_a_run_with_a_flaky_reward_logs_only_real_answers(tmp_path, tiny_policy_dir, monkeypatch):
    from sealign.run.loop import run

    asked: list[tuple[str, str, str, Verdict]] = []
    compare = BradleyTerrySimulator.compare

    def spy(self, prompts, responses_a, responses_b, keys=None):
        verdicts = compare(self, prompts, responses_a, responses_b, keys)
        if self.name == "bt-simulator":  # the run's oracle, not the evaluation's ground truth
            asked.extend(zip(prompts, responses_a, responses_b, verdicts))
        return verdicts

    monkeypatch.setattr(BradleyTerrySimulator, "compare", spy)
    config = RunConfig(out_dir=str(tmp_path), run_name="flaky", policy=str(tiny_policy_dir),
                       reward_fn="tests.unit.oracles.test_faults:flaky_reward", budget=48, batch_size=8,
                       num_candidates=3, max_new_tokens=8, num_train_prompts=64, num_eval_prompts=8,
                       eval_every=3, micro_batch_size=8, seed=1)
    summary = run(config, log=lambda _: None)

    # Every query was asked once, and the skipped ones are exactly those with an unusable reward.
    assert len(asked) == config.budget
    bad = [(p, a, b) for p, a, b, _ in asked if unusable(p, a) or unusable(p, b)]
    assert 0 < len(bad) < config.budget
    assert all(v.winner is None for p, a, b, v in asked if (p, a, b) in set(bad))
    metrics = read_metrics(tmp_path / "flaky" / "metrics.jsonl")
    assert sum(r.get("answers/skipped", 0) for r in metrics) == len(bad)
    assert max(r["queries"] for r in metrics) == config.budget  # a skipped query is spent too

    # The log holds exactly the answered pairs: no skipped one, none invented, none twice.
    with FeedbackLog(tmp_path / "flaky" / "feedback.sqlite", "flaky") as log:
        logged = log.read()
    good = Counter((p, a, b) for p, a, b, v in asked if v.winner is not None)
    assert Counter((c.prompt.text, c.a.text, c.b.text) for c in logged) == good
    assert all(c.winner in ("a", "b", "tie") and 0.0 <= c.prob_a <= 1.0 for c in logged)
    assert len(logged) == config.budget - len(bad)
    assert summary["queries"] == config.budget  # as the budget and the curve count: the skipped ones too
    evaluations = [r for r in metrics if "eval/win_rate" in r]
    assert evaluations and all("eval/skipped" in r for r in evaluations)
