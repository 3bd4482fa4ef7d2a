"""bench/throughput.py: its --sealign-set parsing, and one tiny run of both sides (sealign and TRL's
OnlineDPOTrainer) on the built-in policy."""

from __future__ import annotations

import re

import pytest

from bench.throughput import main, parse_sealign_sets
from sealign.errors import ConfigError


def test_sealign_set_values_get_their_fields_types():
    values = parse_sealign_sets(["dtype=bfloat16", "micro-batch-size=4", "adam_beta1=0.8", "eval_greedy=true",
                                 "eval_judge=reward", "weight_decay=1e-2"])
    assert values == {"dtype": "bfloat16", "micro_batch_size": 4, "adam_beta1": 0.8, "eval_greedy": True,
                      "eval_judge": "reward", "weight_decay": 0.01}
    assert type(values["micro_batch_size"]) is int and type(values["weight_decay"]) is float
    assert parse_sealign_sets(["eval_greedy=off"]) == {"eval_greedy": False}
    assert parse_sealign_sets([]) == {}


@pytest.mark.parametrize("item, message", [
    ("dtyp=bfloat16", "'dtyp' is not a sealign setting (did you mean 'dtype'?)"),
    ("no_such_setting=1", "'no_such_setting' is not a sealign setting"),
    ("dtype", "expected KEY=VALUE"),
    ("=3", "expected KEY=VALUE"),
    ("micro_batch_size=two", "micro_batch_size must be int"),
    ("adam_beta1=high", "adam_beta1 must be float"),
    ("eval_greedy=maybe", "eval_greedy is true or false"),
    ("eval_judge=nobody", "eval_judge must be one of auto, reward, oracle"),
    ("batch_size=4", "batch_size is the benchmark's to set (use --batch-size)"),
    ("policy=smollm2-135m", "use --policy"),
])
def test_bad_sealign_sets_are_refused_with_a_clear_message(item, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_sealign_sets([item])


@pytest.mark.parametrize("flags, message", [
    (["--sealign-set", "dtype=bf16"], "dtype must be one of float32, bfloat16, float16, float64"),
    (["--sealign-set", "dtyp=bfloat16"], "did you mean 'dtype'?"),
    (["--policy", "no-such-model"], "unknown model 'no-such-model'"),
    (["--lora-r", "-1"], "--lora-r must be >= 0"),
])
def test_a_bad_setting_stops_the_benchmark_before_any_run(flags, message, tmp_path, capsys):
    out = tmp_path / "throughput.md"
    with pytest.raises(SystemExit) as stopped:
        main([*flags, "--repeats", "1", "--out", str(out)])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow  # two fresh processes (~15 s on 2 cores), and the demo's SFT policy if no test built it yet
def test_one_tiny_run_reports_both_sides_and_their_ratio(demo_sft_cache, tmp_path, monkeypatch):
    pytest.importorskip("trl")
    monkeypatch.setenv("SEALIGN_CACHE", str(demo_sft_cache))  # the children inherit it
    out = tmp_path / "throughput.md"
    assert main(["--repeats", "1", "--steps", "1", "--batch-size", "2", "--max-new-tokens", "4",
                 "--out", str(out)]) == 0
    report = out.read_text()
    for side in ("sealign", "TRL"):
        row = re.search(rf"^\| {side} \| ([\d.]+) \|", report, re.MULTILINE)
        assert row and float(row[1]) > 0, report
    ratio = re.search(r"Median ratio sealign / TRL: ([\d.]+)x", report)
    assert ratio and float(ratio[1]) > 0, report
    assert "- Policy: the built-in SFT policy (`builtin`, a tiny Llama); no chat template." in report
    assert "- Prompts and reward: the `tldr` task's" in report
    assert "- LoRA: off" in report
    assert "- sealign-only settings (`--sealign-set`): none." in report
