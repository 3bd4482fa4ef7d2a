"""One flat, typed run configuration, set by a preset, a YAML file and command-line flags (in that order).

Flat on purpose (as in oat): every knob is one `--flag`, one YAML key and one line of the resolved
`config.yaml` a run writes, so any curve can be re-run exactly with `sealign run --config`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from sealign.errors import ConfigError


@dataclass
class RunConfig:
    # --- run ---------------------------------------------------------------------------------
    preset: str = "online-dpo"
    """Named recipe whose settings are the starting point (see `sealign presets`)."""
    seed: int = 0
    out_dir: str = "runs"
    """Runs are written to OUT_DIR/RUN_NAME."""
    run_name: str = ""
    """Defaults to PRESET-sSEED."""
    cache_dir: str = ""
    """Where the built-in SFT policy is cached; default $SEALIGN_CACHE or ~/.cache/sealign."""
    device: str = "auto"
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default."""

    # --- data --------------------------------------------------------------------------------
    prompts: str = "builtin"
    """'builtin', or a local .jsonl / .json file of prompts."""
    prompt_field: str = "prompt"
    num_train_prompts: int = 4096
    """Size of the built-in task's training prompt set (files use all their rows)."""
    num_eval_prompts: int = 128

    # --- policy ------------------------------------------------------------------------------
    policy: str = "builtin"
    """'builtin' (tiny SFT policy built on first use), a local save_pretrained folder, or a Hub name."""
    dtype: str = "float32"
    max_new_tokens: int = 24
    temperature: float = 1.0
    """Sampling temperature of the candidates shown to the explorer."""
    top_p: float = 1.0

    # --- exploration -------------------------------------------------------------------------
    explorer: str = "passive"
    num_candidates: int = 4
    """M: responses sampled per prompt, among which the explorer picks the pair to ask about."""

    # --- oracle ------------------------------------------------------------------------------
    oracle: str = "bt-simulator"
    reward_fn: str = "builtin"
    """Scalar reward behind the simulator: 'builtin' or an import path 'module:function(prompt, response)'."""
    oracle_temperature: float = 0.1
    """Bradley-Terry temperature: P(a > b) = sigmoid((r_a - r_b) / T)."""
    oracle_deterministic: bool = False
    """Answer the likelier side instead of sampling it."""

    # --- schedule ----------------------------------------------------------------------------
    schedule: Literal["online", "offline"] = "online"
    """online: learn from every batch as it is answered; offline: collect the whole budget with
    the SFT policy first, then train on it."""
    budget: int = 1536
    """Oracle queries to spend."""
    batch_size: int = 32
    """Prompts per step; one query per prompt."""
    offline_epochs: int = 3

    # --- loss --------------------------------------------------------------------------------
    loss: str = "dpo"
    beta: float = 0.1
    label_smoothing: float = 0.0
    sft_weight: float = 0.0

    # --- optimisation ------------------------------------------------------------------------
    lr: float = 3e-4
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    grad_clip: float = 1.0
    micro_batch_size: int = 32
    """Gradient accumulation: a batch is split into micro-batches of this many pairs."""
    warmup_steps: int = 2

    # --- evaluation --------------------------------------------------------------------------
    eval_every: int = 8
    """Evaluate every this many learner steps (and at the start and the end)."""
    eval_greedy: bool = False
    eval_temperature: float = 0.7
    """Used when eval_greedy is off."""
    save_every: int = 0
    """Write a checkpoint every this many steps; 0 writes one at the end only."""

    extra: dict[str, str] = field(default_factory=dict)
    """Free-form settings for plug-ins (explorers, oracles, losses) not known here."""

    # -----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.run_name or f"{self.preset}-s{self.seed}"

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def validate(self) -> RunConfig:
        """Refuse impossible settings with a message that names the fix."""
        checks = [
            (self.beta > 0, f"beta must be > 0 (got {self.beta})"),
            (self.num_candidates >= 2, f"num_candidates must be >= 2 to form a pair (got {self.num_candidates})"),
            (self.batch_size >= 1, f"batch_size must be >= 1 (got {self.batch_size})"),
            (self.budget >= self.batch_size,
             f"budget ({self.budget}) must be >= batch_size ({self.batch_size}); raise --budget"),
            (self.lr > 0, f"lr must be > 0 (got {self.lr})"),
            (self.temperature >= 0, f"temperature must be >= 0 (got {self.temperature})"),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1] (got {self.top_p})"),
            (self.oracle_temperature > 0, f"oracle_temperature must be > 0 (got {self.oracle_temperature})"),
            (0 <= self.label_smoothing < 0.5, f"label_smoothing must be in [0, 0.5) (got {self.label_smoothing})"),
            (self.micro_batch_size >= 1, f"micro_batch_size must be >= 1 (got {self.micro_batch_size})"),
            (self.max_new_tokens >= 1, f"max_new_tokens must be >= 1 (got {self.max_new_tokens})"),
            (self.eval_every >= 1, f"eval_every must be >= 1 (got {self.eval_every})"),
            (self.num_eval_prompts >= 1, f"num_eval_prompts must be >= 1 (got {self.num_eval_prompts})"),
            (self.offline_epochs >= 1, f"offline_epochs must be >= 1 (got {self.offline_epochs})"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


FIELD_NAMES = {f.name for f in dataclasses.fields(RunConfig)}


def apply_overrides(config: RunConfig, overrides: dict, source: str) -> RunConfig:
    """A copy of ``config`` with ``overrides`` applied; unknown keys and wrong types are refused."""
    unknown = sorted(set(overrides) - FIELD_NAMES)
    if unknown:
        close = [f for f in FIELD_NAMES if any(u.replace("-", "_") == f for u in unknown)]
        hint = f" (did you mean {close[0]!r}? use underscores)" if close else ""
        raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}{hint}")
    hints = typing.get_type_hints(RunConfig)
    values = {}
    for key, value in overrides.items():
        values[key] = _coerce(key, value, hints[key], source)
    return dataclasses.replace(config, **values)


def _coerce(key: str, value, hint, source: str):
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{source}: {key} must be one of {typing.get_args(hint)} (got {value!r})")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif origin is dict:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
    type_name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{source}: {key} must be {type_name} (got {value!r})")


def load_yaml(path: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path!r} not found")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path!r} is not valid YAML{where}: {getattr(err, 'problem', err)}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path!r} must hold a mapping of settings, not {type(data).__name__}")
    return data
