"""Prompts from Hugging Face datasets (.parquet, .csv, save_to_disk folders, the Hub), chat `messages`
fields, reference responses and the evaluation against them; every bad input is one line."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from sealign.cli import main
from sealign.config import RunConfig
from sealign.data.prompts import check_prompt_lengths, load_prompts
from sealign.errors import ConfigError, UserError
from sealign.oracles.simulator import BradleyTerrySimulator
from sealign.run.eval import WinRateEvaluator

datasets = pytest.importorskip("datasets", reason="the data extra (pip install 'sealign[data]') is not installed")
pd = pytest.importorskip("pandas")


def chat(i: int) -> list[dict]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"question {i}?"},
            {"role": "assistant", "content": f"answer {i}"}]


ROWS = [{"prompt": f"prompt {i}", "ref": f"reference {i}", "messages": chat(i)} for i in range(12)]


def config(source, **overrides) -> RunConfig:
    return RunConfig(**{"prompts": str(source), "num_eval_prompts": 4, "batch_size": 2, **overrides})


@pytest.fixture()
def saved(tmp_path):
    """The same rows as .parquet, .csv, .jsonl and a save_to_disk folder with train and test splits."""
    pd.DataFrame(ROWS).to_parquet(tmp_path / "p.parquet")
    pd.DataFrame([{k: r[k] for k in ("prompt", "ref")} for r in ROWS]).to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    splits = {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:6])}
    datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "disk"))
    return tmp_path


@pytest.mark.parametrize("source", ["p.parquet", "p.csv", "p.jsonl", "disk"])
def test_every_local_source_gives_the_same_prompts_and_references(saved, source):
    train, held_out = load_prompts(config(saved / source, reference_field="ref"))
    assert [p.text for p in train] == [f"prompt {i}" for i in range(8)]
    assert [p.reference for p in held_out] == [f"reference {i}" for i in range(8, 12)]


@pytest.mark.parametrize("source", ["p.parquet", "p.jsonl", "disk"])
def test_a_messages_field_gives_the_last_user_turn_and_the_last_assistant_turn(saved, source):
    train, held_out = load_prompts(config(saved / source, prompt_field="messages", reference_field="messages"))
    assert train[0].text == "question 0?" and held_out[-1].reference == "answer 11"


def test_the_split_is_chosen(saved):
    train, held_out = load_prompts(config(saved / "disk", prompt_split="test", num_eval_prompts=2))
    assert len(train) + len(held_out) == 6


@pytest.mark.parametrize("source,overrides,message", [
    ("disk", {"prompt_split": "validation"},
     "has no split 'validation' (its splits: train, test); set --prompt-split"),
    ("p.parquet", {"prompt_split": "test"}, "has no split 'test' (its splits: train)"),
    ("disk", {"prompt_field": "text"},
     "has no field 'text' (its fields: 'prompt', 'ref', 'messages'); set --prompt-field"),
    ("p.csv", {"reference_field": "answer"},
     "has no field 'answer' (its fields: 'prompt', 'ref'); set --reference-field"),
    ("p.jsonl", {"reference_field": "answer"}, "p.jsonl:1: row has no non-empty string field 'answer'"),
    ("p.parquet", {"prompt_field": "ref", "reference_field": "messages"}, None),
    ("missing.parquet", {}, "missing.parquet not found"),
    ("p.txt", {}, "must end in .jsonl or .json"),
    (".", {}, "is not a folder written by save_to_disk"),
])
def test_bad_sources_are_refused_in_one_line(saved, source, overrides, message):
    (saved / "p.txt").write_text("a\nb\n")
    if message is None:  # the assistant turn of messages is a fine reference for any prompt field
        assert load_prompts(config(saved / source, **overrides))[1][0].reference == "answer 8"
        return
    with pytest.raises(UserError, match=None) as err:
        load_prompts(config(saved / source, **overrides))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_messages_without_a_user_turn_are_refused(tmp_path):
    rows = [{"messages": [{"role": "assistant", "content": "hi"}]}] * 3
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(UserError, match="m.jsonl:1: the 'messages' messages have no 'user' turn"):
        load_prompts(config(tmp_path / "m.jsonl", prompt_field="messages", num_eval_prompts=1, batch_size=1))


def test_an_unreachable_hub_is_one_line(monkeypatch):
    import huggingface_hub.constants

    # Offline mode fails at once rather than after the Hub client's retries (about 25 s without a network).
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError) as err:
        load_prompts(config("some-org/no-such-dataset"))
    text = str(err.value)
    assert text.startswith("cannot load dataset 'some-org/no-such-dataset' from the Hugging Face Hub")
    assert "offline? pass a local file or a save_to_disk folder" in text and "\n" not in text


def test_a_dataset_prompt_longer_than_the_context_names_its_row(tmp_path, tiny_policy):
    rows = [{"prompt": f"short {i}"} for i in range(5)]
    rows[1] = {"prompt": " ".join(["an outing to the lake with a friend was lovely"] * 60)}
    pd.DataFrame(rows).to_parquet(tmp_path / "long.parquet")
    cfg = config(tmp_path / "long.parquet", num_eval_prompts=1, max_new_tokens=8)
    train, held_out = load_prompts(cfg)
    with pytest.raises(UserError, match=r"long.parquet split train row 2: the prompt is \d+ tokens"):
        check_prompt_lengths(cfg, train + held_out, tiny_policy)


def test_unknown_model_and_task_names_are_one_line(capsys, tmp_path):
    for flags, message in [(["--policy", "smollm3"], "unknown model 'smollm3'; choose one of: builtin, smollm2-135m"),
                           (["--task", "poems"], "unknown task 'poems'; choose one of: constraints, tldr")]:
        assert main(["run", *flags, "--out-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err and "Traceback" not in err


def test_eval_against_reference_needs_references(tiny_policy):
    with pytest.raises(ConfigError, match="needs the prompts' reference responses: set --reference-field"):
        RunConfig(eval_against="reference").validate()
    prompts, _ = load_prompts(RunConfig(num_train_prompts=4, num_eval_prompts=2, batch_size=2))
    with pytest.raises(UserError, match="the evaluation prompts have no reference responses"):
        evaluator(tiny_policy, prompts, against="reference")


def evaluator(policy, prompts, against="sft"):
    # The judge prefers shorter responses: the references below are empty-ish, so they mostly win.
    judge = BradleyTerrySimulator(lambda p, r: -len(r), deterministic=True, name="ground-truth")
    return WinRateEvaluator(policy, prompts, judge, greedy=True, temperature=0.0, max_new_tokens=6, seed=0,
                            reward_fn=judge.reward_fn, against=against)


def test_the_policy_is_judged_against_the_references_too(tiny_policy):
    train, _ = load_prompts(RunConfig(num_train_prompts=4, num_eval_prompts=2, batch_size=2))
    with_references = [replace(p, reference="ok") for p in train]
    metrics = evaluator(tiny_policy, with_references, against="reference").evaluate()
    assert metrics["eval/win_rate"] == 0.5  # the SFT policy against itself
    assert metrics["eval/win_rate_vs_reference"] == 0.0  # every sample is longer than "ok"
    assert metrics["eval/reference_reward"] == -2
    assert evaluator(tiny_policy, with_references).headline_key == "eval/win_rate"
    assert "eval/win_rate_vs_reference" not in evaluator(tiny_policy, train).evaluate()
