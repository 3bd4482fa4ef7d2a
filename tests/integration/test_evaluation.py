"""The evaluation in a real run on the tiny random policy: a collapsing policy is flagged, and stopped
with --stop-on-collapse."""

from __future__ import annotations

import json

import pytest

from sealign.config import RunConfig
from tests.unit.evaluation.test_collapse import collapsing_evaluator


@pytest.mark.parametrize("stop", [True, False])
def test_a_policy_whose_answers_are_all_empty_is_flagged_and_stopped(tmp_path, tiny_policy_folder, monkeypatch, stop):
    from sealign.run.loop import run

    collapsing_evaluator(monkeypatch, after=3)  # the start's answers and the first evaluation are the model's
    config = RunConfig(policy=str(tiny_policy_folder), out_dir=str(tmp_path), run_name="run", budget=48,
                       batch_size=8, eval_every=2, num_train_prompts=32, num_eval_prompts=8, max_new_tokens=6,
                       threads=1, save_every=0, stop_on_collapse=stop)
    lines: list[str] = []
    summary = run(config, log=lines.append)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evaluations = [r for r in records if "eval/collapse" in r]
    assert [r["eval/collapse"] for r in evaluations] == ([0.0, 1.0] if stop else [0.0, 1.0, 1.0, 1.0])
    assert evaluations[1]["queries"] == 16 and evaluations[1]["eval/empty_share"] == 1.0
    assert evaluations[0]["eval/words_per_answer"] > 0 and "eval/eos_share" in evaluations[0]
    said = [line for line in lines if line.startswith("collapse at")]
    assert said[0].startswith("collapse at 16 queries: 100% of answers empty (start 0%)")
    assert len(said) == len(evaluations) - 1  # one line for each evaluation that sees it
    assert summary["collapse"] == {"first_queries": 16, "signs": ["empty", "repeated"], "at_end": True}
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    if stop:
        assert summary["queries"] == 16 and on_disk["stopped_early"].startswith("collapse: 100% of answers empty")
        assert "stopping (--stop-on-collapse)" in said[0]
        assert [line for line in lines if line.startswith("stopped early at 16 of 48 queries (collapse: ")]
    else:
        assert summary["queries"] == 48 and on_disk["stopped_early"] is None
