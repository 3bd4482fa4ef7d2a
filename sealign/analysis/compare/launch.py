"""The compared arms and their runs: each (arm, seed) is an ordinary `sealign run` in its own process,
so runs are isolated, can go in parallel where cores allow, and each leaves a normal run directory
that re-runs exactly.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sealign.errors import UserError
from sealign.recipes import get_recipe


@dataclass(frozen=True)
class Arm:
    """One compared setting: a preset (NAME or NAME:VARIANT) with its own settings, under a label."""

    label: str
    preset: str
    args: tuple[str, ...] = ()
    run_prefix: str = ""  # run directories are RUN_PREFIX-sSEED; default: the label

    def __post_init__(self):
        if not self.run_prefix:
            object.__setattr__(self, "run_prefix", self.label.replace(":", "-v"))


ARM_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]*$")


def parse_arm(text: str) -> Arm:
    """``LABEL=PRESET[:VARIANT] [--setting value ...]`` (``--arm``) as an Arm."""
    label, sep, spec = text.partition("=")
    words = shlex.split(spec)
    if not sep or not words or not ARM_LABEL.match(label.strip()):
        raise UserError(f"--arm {text!r}: expected LABEL=PRESET [--setting value ...], e.g. "
                        "--arm 'ids=sea:2 --explorer ids' (a label of letters, digits and _.:+-)")
    return Arm(label.strip(), words[0], tuple(words[1:]))


def preset_arm(preset: str) -> Arm:
    """A preset compared as it is (``--presets``), labelled as its runs' summary.json names it."""
    return Arm(preset_label(preset), preset, run_prefix=preset.replace(":", "-v"))


def check_arms(arms: list[Arm]) -> None:
    """Unknown presets, bad variants and clashing labels fail before any run starts."""
    for arm in arms:
        name, _, variant = arm.preset.partition(":")
        if variant and not variant.isdigit():
            raise UserError(f"preset {arm.preset!r}: the variant after ':' must be a number")
        get_recipe(name).settings_for(int(variant) if variant else None)
    labels = [arm.label for arm in arms]
    if len(set(labels)) < len(labels):
        raise UserError(f"two compared arms share a label ({', '.join(labels)}); give each its own")


def baseline_label(baseline: str, arms: list[Arm]) -> str:
    """The label of the arm ``--baseline`` names, checked before any run starts: an arm's own label,
    or a preset as its runs' summary.json names it (`sea` and `sea:3` name the same runs)."""
    labels = [arm.label for arm in arms]
    label = baseline if baseline in labels else label_of(baseline)
    if label not in labels:
        raise UserError(f"--baseline {baseline!r} is not one of the compared arms ({', '.join(labels)})")
    return label


def run_all(arms: list[Arm], seeds: int, out_dir: Path, extra_args: list[str], jobs: int,
            log=print) -> list[tuple[str, Path]]:
    """Run every (arm, seed) as `sealign run` subprocesses, ``jobs`` at a time; (label, run dir) of each."""
    check_arms(arms)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    queue = [(arm, s) for s in range(seeds) for arm in arms]
    running: list[tuple[subprocess.Popen, Path, object, str]] = []
    done: list[tuple[str, Path]] = []
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    while queue or running:
        while queue and len(running) < jobs:
            arm, seed = queue.pop(0)
            name = f"{arm.run_prefix}-s{seed}"
            run_dir = out_dir / "runs" / name
            if (run_dir / "summary.json").exists():  # finished earlier: comparisons resume
                done.append((arm.label, run_dir))
                continue
            if run_dir.exists():
                raise UserError(f"{run_dir} holds an unfinished run; delete it and compare again")
            cmd = [*run_command(arm, seed, out_dir / "runs", name), "--threads", str(threads),
                   *extra_args, *arm.args]
            log_file = open(out_dir / "logs" / f"{name}.log", "w")
            log(f"start {name}")
            running.append((subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT), run_dir, log_file,
                            arm.label))
        time.sleep(0.5)
        for item in list(running):
            proc, run_dir, log_file, label = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log_file.close()
            if proc.returncode != 0:
                for other, _, other_log, _ in running:
                    other.kill()
                    other_log.close()
                tail = (out_dir / "logs" / f"{run_dir.name}.log").read_text().strip().splitlines()[-1:]
                raise UserError(f"run {run_dir.name} failed: {tail[0] if tail else 'no output'} "
                                f"(log: {out_dir / 'logs' / (run_dir.name + '.log')})")
            log(f"done  {run_dir.name}")
            done.append((label, run_dir))
    return done


def run_command(arm: Arm, seed: int, runs_dir: Path, name: str) -> list[str]:
    """The `sealign run` command line of one (arm, seed), before the thread count and extra settings."""
    preset_name, _, variant = arm.preset.partition(":")
    return [sys.executable, "-m", "sealign.cli", "run", "--preset", preset_name, "--seed", str(seed),
            *(["--variant", variant] if variant else []), "--out-dir", str(runs_dir), "--run-name", name]


def preset_label(preset: str) -> str:
    """The name a run's summary.json gives ``preset`` (NAME or NAME:VARIANT): a recipe run without a
    variant records its default one (``sea`` runs as ``sea:3``), so --baseline sea finds its rows."""
    name, _, variant = preset.partition(":")
    settings = get_recipe(name).settings_for(int(variant) if variant.isdigit() else None)
    return name + (f":{settings['variant']}" if settings.get("variant") else "")


def label_of(preset: str) -> str:
    """``preset``'s label in a comparison, or ``preset`` itself where no recipe has that name."""
    try:
        return preset_label(preset)
    except UserError:
        return preset
