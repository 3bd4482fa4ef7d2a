"""The run's configuration: one flat, typed namespace set by a preset, a YAML file and command-line
flags (in that order), composed from the settings of each part.

Flat to the user (as in oat): every knob is one `--flag`, one YAML key and one line of the resolved
`config.yaml` a run writes, so any curve can be re-run exactly with `sealign run --config`. Owned by
the parts: each part's settings are a small dataclass with its own checks, next to the part
(``exploration/settings.py``, ``oracles/settings.py``, ``policy/settings.py``, ``data/settings.py``,
``runtime/settings.py``, ``loss_settings.py``, ``schedule_settings.py``, ``learner_settings.py``,
``learning_settings.py``, ``eval_settings.py``). Only the run's own settings (``RunSettings``) and the
composition are here: ``RunConfig`` inherits every group; ``PARTS`` lists them in the order of
``config.yaml`` and of ``sealign run --help``; ``checks_across_parts`` holds the rules that tie parts together.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import yaml

from sealign.data.settings import DataSettings
from sealign.errors import ConfigError
from sealign.exploration.settings import ExplorationSettings
from sealign.learning.learner_settings import OptimiserSettings
from sealign.learning.loss_settings import LossSettings
from sealign.oracles.settings import HumanSettings, JudgeSettings, OracleSettings, RewardServerSettings
from sealign.policy.settings import BACKENDS, BackendSettings, LoraSettings, PolicySettings, smallest_trainable_lr
from sealign.run.eval_settings import EvalSettings
from sealign.run.learning_settings import LearningSettings
from sealign.run.sampling_settings import SamplingSettings
from sealign.run.schedule_settings import SCHEDULE_TRAITS, ScheduleSettings
from sealign.runtime.settings import RuntimeSettings


@dataclass
class RunSettings:
    """The run's own: its name, seed, folders and device."""

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

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (0 <= self.seed < 2**63, f"seed must be in [0, 2**63) (got {self.seed})"),
            (self.threads >= 0, f"threads must be >= 0; 0 keeps torch's default (got {self.threads})"),
        ]


PARTS: dict[str, type] = {
    "run": RunSettings, "data": DataSettings, "policy": PolicySettings, "sampling": SamplingSettings,
    "exploration": ExplorationSettings,
    "learning": LearningSettings, "oracle": OracleSettings, "judge": JudgeSettings,
    "reward_server": RewardServerSettings, "human": HumanSettings,
    "schedule": ScheduleSettings, "loss": LossSettings, "optimiser": OptimiserSettings, "evaluation": EvalSettings,
    "runtime": RuntimeSettings, "generation": BackendSettings, "lora": LoraSettings,
}
"""Each part's settings by group name, in the order of config.yaml and of `sealign run --help`."""

Group = TypeVar("Group")


# Dataclass fields come from the bases in reverse order: the last base's fields are first.
@dataclass
class RunConfig(LoraSettings, BackendSettings, RuntimeSettings, EvalSettings, OptimiserSettings,
                LossSettings, ScheduleSettings, HumanSettings, RewardServerSettings, JudgeSettings, OracleSettings,
                LearningSettings,
                ExplorationSettings, SamplingSettings, PolicySettings, DataSettings, RunSettings):
    @property
    def name(self) -> str:
        return self.run_name or f"{self.preset}-s{self.seed}"

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def part(self, group: type[Group]) -> Group:
        """One part's settings group (``PARTS``) as its own instance, with exactly that group's fields:
        what a part's build takes (``make_actor(config.part(SamplingSettings), ...)``). A read of another
        group's field fails at once rather than reaching into the whole config."""
        if group not in PARTS.values():
            raise TypeError(f"{group.__name__} is not a settings group of RunConfig (config.PARTS)")
        return group(**{f.name: getattr(self, f.name) for f in dataclasses.fields(group)})

    def validate(self) -> RunConfig:
        """Refuse impossible settings with a message that names the fix: each part's checks, then
        the checks that tie parts together."""
        # NaN fails every `x > 0` check below with a misleading message,
        # and inf passes them, to blow up later as NaN weights or an endless wait.
        for name in FLOAT_FIELDS:
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number (got {getattr(self, name)})")
        checks = [check for part in PARTS.values() if hasattr(part, "checks") for check in part.checks(self)]
        for ok, message in checks + self.checks_across_parts():
            if not ok:
                raise ConfigError(message)
        if self.runtime == "local":  # a Ray cluster's GPUs need not be visible here
            check_device(self.device)
        check_out_dir(self.out_dir)
        from sealign.trackers import tracker_names

        tracker_names(self.report_to)
        return self

    def checks_across_parts(self) -> list[tuple[bool, str]]:
        # What acts only between online steps asks the schedule whether it learns there, not its name.
        learns_online = self.schedule in SCHEDULE_TRAITS and self.traits.learns_online
        online = " or ".join(name for name, traits in SCHEDULE_TRAITS.items() if traits.learns_online)
        return [
            (self.budget >= self.batch_size or (self.budget == 0 and self.offline_data),
             f"budget ({self.budget}) must be >= batch_size ({self.batch_size}); raise --budget "
             "(0 only with --offline-data: training on that data alone)"),
            (self.policy_signal != "reward-model" or self.loss == "reinforce",
             "policy_signal 'reward-model' needs --loss reinforce (Asghari et al.'s update)"),
            (self.schedule != "iterative" or self.budget == 0 or self.budget // self.rounds >= self.batch_size,
             f"each of the {self.rounds} rounds needs at least batch_size={self.batch_size} queries; "
             "raise --budget or lower --rounds"),
            # What acts only between online steps is refused elsewhere rather than silently ignored.
            (self.erm_sync == 0 or learns_online,
             f"erm_sync labels pairs between online steps: it needs --schedule {online} (got {self.schedule!r})"),
            (self.policy_signal != "reward-model" or learns_online,
             f"policy_signal 'reward-model' (Asghari et al.'s per-batch update) needs --schedule {online} "
             f"(got {self.schedule!r})"),
            (self.learn_policy or learns_online,
             f"learn_policy false (only the reward model learns) needs --schedule {online} (got {self.schedule!r})"),
            (self.lora_r == 0 or self.round_reference != "last",
             "round_reference 'last' (SELM) copies the policy into the reference, which LoRA's reference "
             "(the adapters switched off) cannot hold; use --lora-r 0"),
            (self.explorer != "xpo" or self.reference_candidates >= 1,
             "the xpo explorer pairs a policy sample with a reference sample: set --reference-candidates 1"),
            (self.reference_candidates == 0 or BACKENDS[self.policy_backend].reference_samples,
             "reference_candidates samples with a frozen copy of the policy's initial network: it needs "
             f"--policy-backend {' or '.join(n for n, b in BACKENDS.items() if b.reference_samples)}"),
            (self.eval_against != "reference" or bool(self.reference_field),
             "--eval-against reference needs the prompts' reference responses: set --reference-field"),
            # LoRA's adapters train in float32 whatever --dtype (peft casts bf16/fp16 adapters up): only a
            # full fine-tune keeps its trained weights, and AdamW's in-place updates, in --dtype.
            (self.lora_r > 0 or self.lr >= smallest_trainable_lr(self.dtype),
             f"--dtype {self.dtype} trains the weights in {self.dtype}, where --lr {self.lr:g} is below the "
             f"spacing of a typical weight ({smallest_trainable_lr(self.dtype):.1e}): AdamW's updates would round "
             "away and nothing would train; use --dtype float32 --mixed-precision bf16 (float32 master weights, "
             "bf16 forward passes)"),
        ]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


FIELD_NAMES = {f.name for f in dataclasses.fields(RunConfig)}
FLOAT_FIELDS = [name for name, hint in typing.get_type_hints(RunConfig).items() if hint is float]


def check_device(device: str) -> None:
    """'auto' or a torch device this machine has: a typo or a missing GPU is refused before any model load."""
    if device == "auto":
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"device {device!r} is not a torch device; use auto, cpu, cuda, cuda:N or mps") from err
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: no CUDA GPU is visible here; use --device cpu (or auto)")
    if parsed.type == "cuda" and (parsed.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} GPU(s)")


def check_out_dir(out_dir: str) -> None:
    """The nearest existing ancestor of ``out_dir`` must be a folder, or making the run folder fails late."""
    path = Path(out_dir).expanduser().absolute()
    for ancestor in [path, *path.parents]:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ConfigError(f"out_dir {out_dir!r}: {ancestor} is a file, not a folder; choose another --out-dir")
            return


RETIRED = {"extra": {}}
"""Settings that were removed, with the value every run had: the config.yaml of an older run holds
them (``sealign run --config``, ``--resume``), and that value is dropped as it is read; another is
refused as unknown."""


def apply_overrides(config: RunConfig, overrides: dict, source: str) -> RunConfig:
    """A copy of ``config`` with ``overrides`` applied; unknown keys and wrong types are refused."""
    overrides = {key: value for key, value in overrides.items() if key not in RETIRED or value != RETIRED[key]}
    unknown = sorted({str(key) for key in overrides} - FIELD_NAMES)  # YAML keys may be ints or bools
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
    type_name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{source}: {key} must be {type_name} (got {value!r})")


def load_yaml(path: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path!r} not found")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path!r} is not UTF-8 text (byte {err.start}); save it as UTF-8") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path!r} is not valid YAML{where}: {getattr(err, 'problem', err)}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path!r} must hold a mapping of settings, not {type(data).__name__}")
    return data


def grouped(config: RunConfig):
    """``config`` as one dataclass per part (``PARTS``), for a command line whose --help shows the
    settings grouped by part; every flag keeps its flat name."""
    import tyro

    groups = dataclasses.make_dataclass(
        "RunFlags", [(name, tyro.conf.OmitArgPrefixes[part]) for name, part in PARTS.items()])
    return groups, groups(**{name: part(**{f.name: getattr(config, f.name) for f in dataclasses.fields(part)})
                             for name, part in PARTS.items()})


def flattened(groups) -> RunConfig:
    """The ``RunConfig`` of a ``grouped`` value."""
    return RunConfig(**{f.name: getattr(getattr(groups, name), f.name)
                        for name, part in PARTS.items() for f in dataclasses.fields(part)})
