"""`sealign export`: the feedback log as a preference dataset that `datasets` loads and TRL trains on."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sealign.cli import main
from sealign.records.feedback_log import FeedbackLog
from tests.unit.records.test_feedback_log import make_comparison

COLUMNS = {"prompt", "chosen", "rejected", "step", "oracle", "probability", "source", "cost", "cost_unit", "id"}


@pytest.fixture
def mixed_run(tmp_path):
    """A run directory whose log holds two answers, a tie, a reward-model label and 3 unanswered queries."""
    run_dir = tmp_path / "mixed"
    run_dir.mkdir()
    label = dataclasses.replace(make_comparison(3, "b"), source="reward-model", oracle="erm", prob_a=None, cost=0.0)
    with FeedbackLog(run_dir / "feedback.sqlite", "mixed") as log:
        log.append([make_comparison(0, "a"), make_comparison(1, "b")], step=0, skipped=2)
        log.append([make_comparison(2, "tie")], step=1, skipped=1)
        log.append([label])
    return run_dir


def test_rows_keep_who_won_and_count_what_has_no_winner(mixed_run, capsys):
    assert main(["export", str(mixed_run)]) == 0
    out = capsys.readouterr().out
    assert "wrote 3 preference pairs (1 model-labelled)" in out
    assert "1 tie(s)" in out and "3 unanswered" in out
    rows = [json.loads(line) for line in (mixed_run / "preferences.jsonl").read_text().splitlines()]
    assert set(rows[0]) == COLUMNS
    assert [(r["chosen"], r["rejected"]) for r in rows] == [("answer a 0", "answer b 0"), ("answer b 1", "answer a 1"),
                                                            ("answer b 3", "answer a 3")]
    assert [r["probability"] for r in rows] == [pytest.approx(0.7), pytest.approx(0.3), None]  # P(chosen wins)
    assert [r["source"] for r in rows] == ["oracle", "oracle", "reward-model"]


def test_model_labels_can_be_left_out(mixed_run, capsys):
    assert main(["export", str(mixed_run), "--no-model-labels", "--out", str(mixed_run / "oracle.jsonl")]) == 0
    assert "1 model-labelled pair(s) (--no-model-labels)" in capsys.readouterr().out
    assert len((mixed_run / "oracle.jsonl").read_text().splitlines()) == 2


def test_parquet_and_hf_formats_load_with_datasets(mixed_run, capsys):
    datasets = pytest.importorskip("datasets")
    assert main(["export", str(mixed_run), "--format", "parquet"]) == 0
    assert main(["export", str(mixed_run), "--format", "hf"]) == 0
    from_parquet = datasets.load_dataset("parquet", data_files=str(mixed_run / "preferences.parquet"), split="train")
    from_disk = datasets.load_from_disk(str(mixed_run / "preferences"))
    for dataset in (from_parquet, from_disk):
        assert set(dataset.column_names) == COLUMNS and dataset.num_rows == 3
        assert dataset[1]["chosen"] == "answer b 1"
    capsys.readouterr()


@pytest.mark.parametrize("args, message", [
    (["export", "nowhere"], "not a run directory"),
    (["export", ".", "--format", "csv"], "invalid choice"),
])
def test_bad_export_requests_are_one_line_errors(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
