"""Settings that follow the model: a pretrained policy gets a training regime that suits it unless a
preset, the YAML file or a flag chose one.

The settings' defaults are the built-in tiny model's (a full fine-tune at lr 3e-4). On a pretrained
model they destroy it: SmolLM2-135M fine-tuned in full at 3e-4 on CPU answered every held-out prompt
with nothing within 192 queries (issue 26). So, for a policy of ``PRETRAINED_PARAMETERS`` or more (or
of unknown size: a Hub model not in the local cache):

- on a CPU, LoRA r ``LORA_R`` (the measured working setting: r 16 at lr 1e-3 learns the constraints task
  on SmolLM2-135M; bench/results/real_model.md), unless ``lora_r`` or ``lr`` was chosen (a learning rate
  chosen without a rank is kept with the regime it was chosen for, a full fine-tune, and the line says so);
- a learning rate for its size, unless ``lr`` was chosen: with LoRA 1e-3 at SmolLM2's width (576) and,
  beyond it, smaller as 1 / width (Adam's rule for wider layers: 2.8e-4 at 2048, 1.4e-4 at 4096); a full
  fine-tune gets the papers' DPO rate, 5e-7 (SEA / oat, TRL's online DPO; not measured here).

Values chosen by the preset count as chosen: the ``real`` preset sets both (the measured pair). The
built-in policy, and a folder whose model is smaller (a test's tiny model), keep the defaults. What was
applied is said in one line (``follow_model``); the resolved values are in the run's config.yaml, so a
re-run with ``--config`` chooses them all.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from sealign.config import RunConfig
from sealign.policy.registry import BUILTIN, MODELS, is_path_or_hub_name
from sealign.policy.settings import BACKENDS

PRETRAINED_PARAMETERS = 10_000_000
"""Below this a model is a toy like the built-in one (~0.7M parameters), and the toy's defaults suit it."""
LORA_R = 16
LORA_LR = 1e-3
"""Measured: LoRA r 16 learns at 1e-3 on SmolLM2-135M (2e-4 left the DPO loss at 0.69 for 112 queries)."""
LORA_LR_WIDTH = 576
"""The width (hidden size) at which ``LORA_LR`` was measured: SmolLM2-135M's."""
FULL_FINE_TUNE_LR = 5e-7
"""The papers' rate for a full DPO fine-tune (Liu et al. 2024 / oat; TRL's OnlineDPOConfig)."""


@dataclass(frozen=True)
class ModelShape:
    parameters: int | None
    hidden_size: int | None

    def describe(self) -> str:
        return f"{self.parameters / 1e6:.0f}M parameters" if self.parameters else "size unknown"


def model_shape(policy: str) -> ModelShape | None:
    """The size of the model ``--policy`` names, read without loading it. None: the built-in policy, or a
    name the run will refuse (unknown, or a folder without a readable config.json: refused in one line
    of its own when the run loads it)."""
    if policy == BUILTIN or (policy not in MODELS and not is_path_or_hub_name(policy)):
        return None
    if policy in MODELS:
        model = MODELS[policy]
        return ModelShape(model.parameters or None, model.hidden_size or None)
    folder = Path(policy).expanduser()
    if policy.startswith((".", "/", "~")) or folder.exists():
        return read_shape(folder / "config.json")
    return read_shape(hub_config_file(policy)) or ModelShape(None, None)  # a Hub model not in the local cache


def hub_config_file(policy: str) -> Path | None:
    """The config.json of a Hub model in the local Hugging Face cache (no network), if it is there."""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(policy, "config.json")
    except Exception:  # not a repository name, or no hub library: the size stays unknown
        return None
    return Path(cached) if isinstance(cached, str) else None


def read_shape(file: Path | None) -> ModelShape | None:
    """Parameters estimated from a transformers config.json: layers x (attention 4h^2 + MLP 3hi) + vocab x h;
    None when the file is missing or not JSON."""
    if file is None or not file.is_file():
        return None
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    config = config.get("text_config", config)  # a multimodal model's language part

    def first(*names):
        return next((config[n] for n in names if isinstance(config.get(n), int)), None)

    hidden = first("hidden_size", "n_embd", "d_model")
    layers = first("num_hidden_layers", "n_layer", "num_layers")
    vocab = first("vocab_size")
    if not (hidden and layers and vocab):
        return ModelShape(None, hidden)
    inner = first("intermediate_size", "n_inner", "ffn_dim") or 4 * hidden
    return ModelShape(layers * (4 * hidden * hidden + 3 * hidden * inner) + vocab * hidden, hidden)


def lora_lr(shape: ModelShape) -> float:
    width = shape.hidden_size or LORA_LR_WIDTH
    return LORA_LR * min(1.0, LORA_LR_WIDTH / width)


def on_accelerator(config: RunConfig) -> bool:
    """Whether the policy trains on a GPU (or another accelerator): vLLM, an explicit device, or 'auto' with CUDA."""
    if BACKENDS[config.policy_backend].needs_gpu:
        return True
    if config.device == "auto":
        import torch

        return torch.cuda.is_available()
    return not config.device.startswith("cpu")


def follow_model(config: RunConfig, chosen: dict[str, str]) -> tuple[RunConfig, str]:
    """``config`` with the model-following defaults applied to the settings nobody chose, and the one line
    that says what was applied ("" when nothing was). ``chosen``: setting -> who chose it
    ("--lr", "my.yaml", "preset real")."""
    shape = model_shape(config.policy)
    if shape is None or (shape.parameters is not None and shape.parameters < PRETRAINED_PARAMETERS):
        return config, ""
    gpu = on_accelerator(config)
    changes: dict[str, float | int] = {}
    notes = []
    if not gpu and "lora_r" not in chosen and "lr" not in chosen:
        changes["lora_r"] = LORA_R
    lora = changes.get("lora_r", config.lora_r) > 0
    if "lr" not in chosen:
        changes["lr"] = lora_lr(shape) if lora else FULL_FINE_TUNE_LR
    elif not gpu and not lora and "lora_r" not in chosen:
        notes.append(f"{chosen['lr']} chose lr {config.lr:g} without lora_r: a full fine-tune, kept (on a CPU this "
                     f"model's default is LoRA r {LORA_R} at lr {lora_lr(shape):g})")
    if not changes and not notes:
        return config, ""
    applied = ", ".join(f"{key} {value:g}" for key, value in changes.items())
    regime = "LoRA" if lora else "full fine-tune"
    line = (f"defaults that follow the model: {config.policy} ({shape.describe()}, {'GPU' if gpu else 'CPU'}, "
            f"{regime})" + (f": {applied} (set --lora-r / --lr to choose others)" if applied else "")
            + "".join(f"; {note}" for note in notes))
    return dataclasses.replace(config, **changes), line


def flag_names(args: list[str]) -> list[str]:
    """The settings named by command-line flags: ``--lora-r 8`` and ``--lora_r=8`` -> lora_r; ``--no-x`` -> x."""
    from sealign.config import FIELD_NAMES

    names = []
    for arg in args:
        if not arg.startswith("--") or arg == "--":
            continue
        name = arg[2:].split("=", 1)[0].replace("-", "_")
        if name not in FIELD_NAMES and name.startswith("no_") and name[3:] in FIELD_NAMES:
            name = name[3:]
        names.append(name)
    return names
