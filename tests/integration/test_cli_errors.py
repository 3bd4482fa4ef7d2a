"""User mistakes end in one clear line on stderr and exit code 2, never a traceback."""

import json

import pytest

from sealign.cli import main


def run_cli(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--preset", "nope"], "unknown preset 'nope'"),
        (["run", "--beta", "0"], "beta must be > 0"),
        (["run", "--beta", "-1"], "beta must be > 0"),
        (["run", "--num-candidates", "1"], "num_candidates must be >= 2"),
        (["run", "--budget", "8", "--batch-size", "16"], "budget (8) must be >= batch_size"),
        (["run", "--policy", "/no/such/model"], "has no config.json"),
        (["run", "--config", "/no/such.yaml"], "not found"),
        (["run", "--explorer", "psychic"], "unknown explorer 'psychic'"),
        (["run", "--oracle", "psychic"], "unknown oracle 'psychic'"),
        (["run", "--loss", "psychic"], "unknown loss 'psychic'"),
        (["run", "--batch-size", "64", "--num-train-prompts", "10"], "batch_size (64) is larger than the 10"),
        (["plot", "/no/such/run"], "not a run directory"),
    ],
)
def test_bad_input_is_one_line(args, message, capsys, tmp_path):
    code, err = run_cli([*args, "--out-dir", str(tmp_path)] if args[0] == "run" else args, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_bad_prompt_files(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "ok"}\n{"prompt": \n')
    missing_field = tmp_path / "missing.jsonl"
    missing_field.write_text(json.dumps({"text": "hi"}) + "\n")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    for path, message in [(empty, "holds no prompts"), (broken, "broken.jsonl:2: not valid JSON"),
                          (missing_field, "no non-empty string field 'prompt'"), (binary, "not UTF-8")]:
        code, err = run_cli(["run", "--prompts", str(path), "--num-eval-prompts", "1",
                             "--out-dir", str(tmp_path)], capsys)
        assert code == 2 and message in err, err


def test_bad_yaml(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("beta: [0.1\nlr: 1\n")
    code, err = run_cli(["run", "--config", str(bad)], capsys)
    assert code == 2 and "not valid YAML" in err
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("betta: 0.1\n")
    code, err = run_cli(["run", "--config", str(unknown)], capsys)
    assert code == 2 and "unknown setting(s) betta" in err
    wrong_type = tmp_path / "wrong.yaml"
    wrong_type.write_text("beta: high\n")
    code, err = run_cli(["run", "--config", str(wrong_type)], capsys)
    assert code == 2 and "beta must be float" in err


def test_yaml_and_flags_compose(tmp_path):
    from sealign.cli_flags import resolve_config

    file = tmp_path / "c.yaml"
    file.write_text("preset: offline-dpo\nbeta: 0.3\nlr: 0.001\n")
    config = resolve_config(["--config", str(file), "--lr", "0.002"])
    assert (config.preset, config.schedule, config.beta, config.lr) == ("offline-dpo", "offline", 0.3, 0.002)


def test_an_older_runs_config_yaml_still_loads_without_its_retired_settings(tmp_path, capsys):
    """``extra`` (free-form plug-in settings that nothing read) was removed: the ``extra: {}`` every
    older config.yaml holds is dropped as it is read; a value someone set is refused as unknown."""
    import yaml

    from sealign.cli_flags import resolve_config
    from sealign.config import RunConfig

    older = tmp_path / "config.yaml"
    older.write_text(yaml.safe_dump({**RunConfig(beta=0.3).to_dict(), "extra": {}}, sort_keys=False))
    assert resolve_config(["--config", str(older)]).beta == 0.3
    older.write_text("beta: 0.3\nextra: {plugin: x}\n")
    code, err = run_cli(["run", "--config", str(older)], capsys)
    assert code == 2 and "unknown setting(s) extra" in err
    assert "extra" not in RunConfig().to_dict()


def test_first_line_of_an_error_falls_back_to_its_type_name():
    from sealign.errors import first_line

    assert first_line(ValueError("no such file\nmore detail")) == "no such file"
    assert first_line(OSError()) == "OSError" and first_line(ValueError(" \n ")) == "ValueError"
    assert first_line(ValueError("x" * 500)) == "x" * 200


def test_a_load_error_with_an_empty_message_is_still_one_line(tmp_path, monkeypatch):
    import transformers

    from sealign.errors import UserError
    from sealign.policy.hf import HFPolicy

    def fail(*args, **kwargs):
        raise OSError()  # some loaders raise with no message at all

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fail)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match="cannot load model .*: OSError$"):
        HFPolicy.from_pretrained(str(tmp_path), device="cpu")


def test_error_messages_are_cut_to_one_line_by_one_helper():
    """``str(err).splitlines()[0]`` raises IndexError on an empty message: errors.first_line instead."""
    from pathlib import Path

    import sealign

    patterns = ("str(err).splitlines()[0]", "str(err).strip().splitlines()")
    offenders = [str(path) for path in Path(sealign.__file__).parent.rglob("*.py")
                 if any(pattern in path.read_text() for pattern in patterns)]
    assert offenders == []


@pytest.mark.parametrize("args", [["--preset", "real"], ["--oracle", "rule"],
                                  ["--oracle", "rule", "--task", "tldr-hard"]])
def test_the_rule_oracle_on_own_prompts_needs_a_reward_fn_before_any_model_loads(args, tmp_path, capsys, monkeypatch):
    """The built-in reward abstains on prompts it cannot read: the whole budget would go on abstentions."""
    import sealign.run.components

    def no_model(*a, **k):
        raise AssertionError("a model was loaded before the refusal")

    monkeypatch.setattr(sealign.run.components, "resolve_policy_path", no_model)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Explain topic {k}."}) + "\n" for k in range(40)))
    code, err = run_cli(["run", *args, "--prompts", str(prompts), "--out-dir", str(tmp_path)], capsys)
    assert code == 2 and "the rule oracle on your own prompts needs --reward-fn" in err
    assert "Traceback" not in err and err.count("\n") == 1
