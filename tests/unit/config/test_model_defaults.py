"""Defaults that follow the model (issue 26): a pretrained policy run with a plain preset gets LoRA r 16 and
a learning rate for its size on a CPU, never the tiny built-in model's full fine-tune at 3e-4, unless a
flag, the YAML file or the preset chose otherwise; one line says what was applied."""

import json

import pytest
import yaml

from sealign.cli_flags import resolve_config
from sealign.config import RunConfig
from sealign.run.model_defaults import (
    FULL_FINE_TUNE_LR,
    ModelShape,
    flag_names,
    follow_model,
    lora_lr,
    model_shape,
    read_shape,
)

TOY_LR = RunConfig().lr  # the built-in model's 3e-4


@pytest.fixture(autouse=True)
def cpu_only(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)


def resolved(*args: str) -> tuple[RunConfig, list[str]]:
    lines: list[str] = []
    return resolve_config(list(args), log=lines.append), lines


def test_a_plain_preset_on_smollm2_gets_lora_and_its_learning_rate_in_one_line():
    config, lines = resolved("--preset", "online-dpo", "--policy", "smollm2-135m")
    assert (config.lora_r, config.lr) == (16, 1e-3)
    assert len(lines) == 1 and "smollm2-135m (135M parameters, CPU, LoRA): lora_r 16, lr 0.001" in lines[0]


def test_what_a_flag_or_the_yaml_file_chose_is_kept(tmp_path):
    config, lines = resolved("--policy", "smollm2-135m", "--lora-r", "8")
    assert (config.lora_r, config.lr) == (8, 1e-3) and "lr 0.001" in lines[0] and "lora_r" not in lines[0]
    # the same value as the default, but chosen: kept, and a full fine-tune at it is said, not silent
    config, lines = resolved("--policy", "smollm2-135m", f"--lr={TOY_LR}")
    assert (config.lora_r, config.lr) == (0, TOY_LR)
    assert "--lr chose lr 0.0003 without lora_r: a full fine-tune, kept" in lines[0]
    file = tmp_path / "run.yaml"
    file.write_text(yaml.safe_dump({"policy": "smollm2-135m", "lora_r": 0}))
    config, lines = resolved("--config", str(file))
    assert (config.lora_r, config.lr) == (0, FULL_FINE_TUNE_LR)  # a full fine-tune gets the papers' rate


def test_a_resolved_config_yaml_re_runs_exactly(tmp_path):
    config, _ = resolved("--policy", "smollm2-135m", "--out-dir", str(tmp_path))
    config.save(tmp_path / "config.yaml")
    again, lines = resolved("--config", str(tmp_path / "config.yaml"))
    assert again == config and lines == []


def test_the_real_preset_chose_its_own_pair_and_the_builtin_and_tiny_models_keep_the_toy_defaults(
        tiny_policy_folder):
    config, lines = resolved("--preset", "real")
    assert (config.lora_r, config.lr, lines) == (16, 1e-3, [])
    for policy, lr in (("builtin", 6e-4), (str(tiny_policy_folder), TOY_LR)):  # online-dpo's rate tuned on builtin
        config, lines = resolved("--policy", policy)
        assert (config.lora_r, config.lr, lines) == (0, lr, [])


def test_on_a_gpu_the_regime_stays_a_full_fine_tune_at_the_papers_rate(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    config, line = follow_model(RunConfig(policy="smollm2-135m"), chosen={})
    assert (config.lora_r, config.lr) == (0, FULL_FINE_TUNE_LR) and "GPU, full fine-tune" in line


def test_the_size_is_read_from_a_folder_and_the_lora_rate_shrinks_with_the_width(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text('{"model_type": ')
    (tmp_path / "config.json").write_text(json.dumps(
        {"hidden_size": 2048, "num_hidden_layers": 16, "intermediate_size": 8192, "vocab_size": 128256}))
    shape = model_shape(str(tmp_path))
    assert shape.hidden_size == 2048 and 1.0e9 < shape.parameters < 1.4e9  # a Llama-3.2-1B-like shape
    assert lora_lr(shape) == pytest.approx(1e-3 * 576 / 2048)
    assert lora_lr(ModelShape(None, 256)) == 1e-3  # never above the measured rate
    assert read_shape(None) is None and model_shape("builtin") is None and model_shape("no-such-model") is None
    for broken in ("missing", "empty", "bad"):  # refused when the run loads them, in one line of their own
        assert model_shape(str(tmp_path / broken)) is None
    assert model_shape("org/not-in-the-cache") == ModelShape(None, None)  # a Hub model of unknown size
    config, _ = follow_model(RunConfig(policy=str(tmp_path)), chosen={})
    assert (config.lora_r, config.lr) == (16, pytest.approx(2.8125e-4))


def test_flag_names_are_read_in_every_spelling():
    assert flag_names(["--lora-r", "8", "--lr=1e-3", "--no-keep-dropout", "--seed", "-1", "--"]) == [
        "lora_r", "lr", "keep_dropout", "seed"]


def test_settings_tuned_on_the_built_in_policy_apply_to_it_only_and_never_over_a_users_choice():
    from sealign.cli_flags import builtin_tuned

    assert builtin_tuned(RunConfig(), {"lr": 6e-4}, set()).lr == 6e-4
    assert builtin_tuned(RunConfig(lr=1e-4), {"lr": 6e-4}, {"lr"}).lr == 1e-4  # a flag or the YAML chose it
    pretrained = RunConfig(policy="smollm2-135m", lr=1e-3)
    assert builtin_tuned(pretrained, {"lr": 6e-4}, set()).lr == 1e-3  # its own defaults follow the model
