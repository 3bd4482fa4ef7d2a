"""--offline-data: preference rows from files or datasets, checked row by row, trained on before the first query."""

from __future__ import annotations

import json

import pytest

from sealign.cli import main
from sealign.data.preferences import PreferenceRow, load_preference_data
from sealign.errors import UserError

datasets = pytest.importorskip("datasets")

TEXT_ROWS = [{"prompt": "post one tl;dr :", "chosen": "a good summary", "rejected": "a bad one"},
             {"prompt": "post two tl;dr :", "chosen": "short and right", "rejected": "long and wrong"}]
EXPECTED = [PreferenceRow(r["prompt"], r["chosen"], r["rejected"]) for r in TEXT_ROWS]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_text_rows_load_from_every_file_kind_and_a_saved_dataset(tmp_path):
    dataset = datasets.Dataset.from_list(TEXT_ROWS)
    dataset.to_parquet(str(tmp_path / "d.parquet"))
    dataset.to_csv(str(tmp_path / "d.csv"), index=False)
    dataset.save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "d.json").write_text(json.dumps(TEXT_ROWS))
    sources = [write_jsonl(tmp_path / "d.jsonl", TEXT_ROWS)] + [str(tmp_path / n) for n in
                                                                ("d.json", "d.parquet", "d.csv", "saved")]
    for source in sources:
        assert load_preference_data(source) == EXPECTED, source


def test_chat_rows_with_a_prompt_or_as_two_conversations(tmp_path):
    user = [{"role": "user", "content": "post one tl;dr :"}]
    answer = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
    explicit = {"prompt": user, "chosen": answer("a good summary"), "rejected": answer("a bad one")}
    implicit = {"chosen": user + answer("a good summary"), "rejected": user + answer("a bad one")}
    multi_turn = {"prompt": [{"role": "system", "content": "be brief"}] + user, "chosen": answer("x"),
                  "rejected": answer("y")}
    rows = load_preference_data(write_jsonl(tmp_path / "chat.jsonl", [explicit, implicit, multi_turn]))
    assert rows[0] == rows[1] == EXPECTED[0]
    assert rows[2].prompt == "system: be brief\nuser: post one tl;dr :"


@pytest.mark.parametrize("bad_row, message", [
    ({"prompt": "p", "chosen": "c"}, "row 2: missing field 'rejected'"),
    ({"prompt": "p", "chosen": "  ", "rejected": "r"}, "row 2: chosen is empty"),
    ({"prompt": "p", "chosen": 5, "rejected": "r"}, "row 2: chosen must be text or a list of chat messages, not int"),
    ({"prompt": [{"role": "user"}], "chosen": "c", "rejected": "r"}, "row 2: prompt message 1 must be"),
])
def test_a_bad_row_is_one_line_naming_its_row(tmp_path, bad_row, message):
    source = write_jsonl(tmp_path / "bad.jsonl", [TEXT_ROWS[0], bad_row])
    with pytest.raises(UserError, match=message):
        load_preference_data(source)


def test_missing_or_unknown_sources_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_preference_data(str(tmp_path / "nope.jsonl"))
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(UserError, match="must end in"):
        load_preference_data(str(tmp_path / "d.txt"))


def test_a_bad_offline_file_stops_the_run_before_any_model_loads(tmp_path, capsys):
    source = write_jsonl(tmp_path / "bad.jsonl", [TEXT_ROWS[0], {"prompt": "p", "chosen": "", "rejected": "r"}])
    assert main(["run", "--offline-data", source, "--policy", str(tmp_path / "no-such-model"),
                 "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl row 2: chosen is empty" in err and err.count("\n") == 1


@pytest.mark.parametrize("task", ["tldr", "tldr-hard"])
def test_the_builtin_offline_data_and_selms_are_the_runs_own_tasks(task):
    from sealign.config import RunConfig
    from sealign.data.prompts import load_prompts
    from sealign.run.explorer_inputs import selm_preference_data
    from sealign.run.warm_start import read_offline_rows
    from sealign.tasks import get_task

    config = RunConfig(task=task, offline_data="builtin", explorer="selm-rank", num_train_prompts=16, batch_size=8,
                       seed=3)
    train, _ = load_prompts(config)
    expected = get_task(task).preference_data([p.text for p in train], seed=3)
    rows = read_offline_rows(config, train)
    assert {row.prompt: (row.chosen, row.rejected) for row in rows} == expected
    assert selm_preference_data(config)["data"] == expected


def test_a_task_without_offline_data_is_refused_in_one_line_not_given_another_tasks(tmp_path, capsys):
    from sealign.config import RunConfig
    from sealign.errors import ConfigError
    from sealign.run.explorer_inputs import selm_preference_data
    from sealign.run.warm_start import read_offline_rows

    config = RunConfig(task="constraints", offline_data="builtin", explorer="selm-rank")
    with pytest.raises(ConfigError, match="--offline-data builtin: the constraints task has no offline preference"):
        read_offline_rows(config, [])
    with pytest.raises(ConfigError, match="--preference-data builtin: the constraints task has no offline"):
        selm_preference_data(config)
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": f"question {k}"} for k in range(40)])
    with pytest.raises(ConfigError, match="--offline-data builtin is the tldr task's"):
        read_offline_rows(RunConfig(prompts=prompts, offline_data="builtin"), [])
    assert main(["run", "--task", "constraints", "--offline-data", "builtin", "--policy", str(tmp_path / "no-model"),
                 "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the constraints task has no offline preference data" in err and err.count("\n") == 1
