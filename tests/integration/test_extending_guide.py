"""docs/extending.md stays true: each worked example is added to a copy of the package where the guide
says, and run to its budget with the guide's own flags, through ``sealign run``.

The copy's runs use the tiny random policy (conftest's ``tiny_policy_folder``: seconds, no model is
trained) on the built-in task, the task example on its own task. They run in one child process, whose
``sealign`` is the copy; each example's run directory is then read here.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

GUIDE = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
BUDGET = 16
BATCH = 8
TINY_RUN = ["--budget", str(BUDGET), "--batch-size", str(BATCH), "--num-candidates", "3", "--max-new-tokens", "8",
            "--num-train-prompts", "64", "--num-eval-prompts", "8", "--micro-batch-size", "8", "--seed", "1",
            "--threads", "1"]


# ----------------------------------------------------------------------------- reading the guide
def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE, flags=re.S)


def block(marker: str) -> str:
    found = [code for code in python_blocks() if marker in code]
    assert len(found) == 1, f"docs/extending.md should show one code block with {marker!r}"
    return found[0]


def inline(pattern: str) -> str:
    """The guide's inline code matching ``pattern`` (a registry line, a command)."""
    match = re.search(rf"`({pattern})`", GUIDE)
    assert match, f"docs/extending.md names no {pattern!r}"
    return match.group(1)


def command_flags(pattern: str) -> list[str]:
    """The flags of the guide's ``sealign run ...`` command matching ``pattern`` (placeholders dropped)."""
    words = inline(pattern).split()[2:]
    return [w for n, w in enumerate(words) if w != "PATH" and not (w == "--policy" and words[n + 1:n + 2] == ["PATH"])]


# ------------------------------------------------------------------------- editing the copy as it says
def new_file(package: Path, code: str) -> Path:
    """Writes a block whose first line is ``# sealign/PATH.py`` to that path."""
    first = code.splitlines()[0]
    assert re.fullmatch(r"# sealign/[\w/]+\.py", first), f"a new file's block starts with its path: {first!r}"
    path = package.parent / first[2:]
    assert not path.exists(), f"{first[2:]} exists already: the guide's example would replace it"
    path.write_text(code)
    return path


def insert_before(path: Path, anchor: str, text: str) -> None:
    source = path.read_text()
    assert source.count(anchor) == 1, f"{path.name} should hold {anchor!r} once"
    path.write_text(source.replace(anchor, text + anchor))


def register(path: Path, registry: str, entry: str, module: Path | None = None) -> None:
    """``entry`` as the first line of the literal that ``registry`` opens in ``path``; ``module`` imported there."""
    source = path.read_text()
    opening = re.search(rf"^{registry}\b[^\n]*[{{\[]\n", source, flags=re.M)
    assert opening, f"{path.name} has no {registry} literal"
    source = source[:opening.end()] + f"    {entry}\n" + source[opening.end():]
    if module is not None:
        parts = module.with_suffix("").parts
        package = ".".join(parts[len(parts) - 1 - parts[::-1].index("sealign"):-1])
        future = "from __future__ import annotations\n"
        source = source.replace(future, f"{future}\nfrom {package} import {module.stem}\n", 1)
    path.write_text(source)


def add_the_guides_examples(package: Path) -> dict[str, list[str]]:
    """Every example of the guide added to ``package`` as the guide says; ``sealign run`` flags of each."""
    runs = {}

    # An explorer, with one setting: a new file, a registry line, a settings field.
    explorer = new_file(package, block("class LengthGapExplorer"))
    register(package / "exploration" / "__init__.py", "REGISTRY", inline(r'"length-gap": [^`]+'), explorer)
    insert_before(package / "exploration" / "settings.py", "    def checks(self)",
                  block("length_gap_min: int").rstrip("\n") + "\n\n")
    runs["explorer"] = command_flags(r"sealign run --explorer length-gap[^`]*")

    # A loss: a function and one Loss line in learning/losses.py.
    function, spec = block("def hinge_squared_loss").split("\nLOSSES = {..., ")
    insert_before(package / "learning" / "losses.py", "_DPO = ", function.strip("\n") + "\n\n\n")
    register(package / "learning" / "losses.py", "LOSSES", spec.strip().removesuffix("}") + ",")
    runs["loss"] = ["--loss", "hinge2"]

    # An oracle: a new file and a registry line.
    oracle = new_file(package, block("class LongerWins"))
    register(package / "oracles" / "__init__.py", "REGISTRY", inline(r'"longer": [^`]+'), oracle)
    runs["oracle"] = ["--oracle", "longer"]

    # A recipe: a new file and a registry line.
    recipe = new_file(package, block('name="sea-bai"'))
    register(package / "recipes" / "__init__.py", "REGISTRY", inline(r'"sea-bai": [^`]+'), recipe)
    runs["recipe"] = ["--preset", "sea-bai"]

    # A schedule: a class and a SCHEDULES line in run/schedules.py; in run/schedule_settings.py the name in the
    # setting's Literal and its traits line.
    schedule_class, rest = block("class HalfwayEvalSchedule").split("\nSCHEDULES = {..., ")
    entry, settings_lines = rest.split("\n# sealign/run/schedule_settings.py\n")
    insert_before(package / "run" / "schedules.py", "SCHEDULES: dict", schedule_class.strip("\n") + "\n\n\n")
    register(package / "run" / "schedules.py", "SCHEDULES", entry.strip().removesuffix("}") + ",")
    settings = package / "run" / "schedule_settings.py"
    names = re.search(r"schedule: Literal\[([^\]]*)\]", settings.read_text())
    assert '"halfway"' in settings_lines.splitlines()[0]  # the guide names it in the Literal
    settings.write_text(settings.read_text().replace(names.group(0), f'schedule: Literal[{names.group(1)}, "halfway"]'))
    traits = settings_lines.splitlines()[1].split("SCHEDULE_TRAITS = {..., ")[1].strip().removesuffix("}")
    register(settings, "SCHEDULE_TRAITS", traits + ",")
    runs["schedule"] = ["--schedule", "halfway"]

    # A task: a new file and a registry line.
    task = new_file(package, block("TASK = Task("))
    register(package / "tasks" / "__init__.py", "REGISTRY", inline(r"word_count\.TASK,"), task)
    runs["task"] = command_flags(r"sealign run --task word-count[^`]*")
    return runs


DRIVER = """
import contextlib, io, json, sys, traceback
from pathlib import Path

import sealign
from sealign.cli import main

copy, out = Path(sys.argv[1]), Path(sys.argv[2])
assert Path(sealign.__file__).resolve().is_relative_to(copy.resolve()), sealign.__file__
results = {}
for name, flags in json.loads(sys.argv[3]).items():
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            code = main(["run", *flags])
    except BaseException:
        code = None
        said.write(traceback.format_exc())
    result = {"code": code, "said": said.getvalue()[-3000:]}
    try:  # how the analysis (sealign compare, sealign plot) reads the run's curve
        from sealign.analysis.curves import holds_between_evaluations
        result["holds_between_evaluations"] = holds_between_evaluations(out / name)
    except Exception:
        result["analysis_error"] = traceback.format_exc()[-2000:]
    results[name] = result
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def guide_copy(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """A copy of the package with every example added (its ``sealign`` folder), and each one's flags."""
    work = tmp_path_factory.mktemp("extending-guide")
    shutil.copytree(ROOT / "sealign", work / "copy" / "sealign", ignore=shutil.ignore_patterns("__pycache__"))
    return work / "copy" / "sealign", add_the_guides_examples(work / "copy" / "sealign")


@pytest.fixture(scope="module")
def guide_runs(guide_copy, tiny_policy_folder):
    """Each example's run in the copy: ``{name: (result, run dir)}``."""
    package, runs = guide_copy
    work = package.parent.parent
    out = work / "runs"
    flags = {name: [*extra, "--policy", str(tiny_policy_folder), *TINY_RUN, "--out-dir", str(out), "--run-name", name]
             for name, extra in runs.items()}
    env = {**os.environ, "PYTHONPATH": str(package.parent), "SEALIGN_CACHE": str(work / "cache")}
    child = subprocess.run([sys.executable, "-c", DRIVER, str(package.parent), str(out), json.dumps(flags)],
                           cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(child.stdout.strip().splitlines()[-1])
    return {name: (result, out / name) for name, result in results.items()}


def finished(guide_runs, example: str) -> tuple[dict, dict, Path]:
    """The example's (config.yaml, summary.json, run dir), after checking it ran to its budget."""
    import yaml

    result, run_dir = guide_runs[example]
    assert result["code"] == 0, result["said"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["queries"] == BUDGET
    return yaml.safe_load((run_dir / "config.yaml").read_text()), summary, run_dir


def evaluations(run_dir: Path) -> list[dict]:
    from sealign.records.tracking import read_metrics

    return [r for r in read_metrics(run_dir / "metrics.jsonl") if "eval/win_rate" in r]


# ------------------------------------------------------------------------------------------- the tests
def test_the_explorer_with_its_setting(guide_runs):
    config, _, _ = finished(guide_runs, "explorer")
    assert (config["explorer"], config["length_gap_min"]) == ("length-gap", 5)


def test_the_loss(guide_runs):
    from sealign.records.tracking import read_metrics

    config, _, run_dir = finished(guide_runs, "loss")
    losses = [r["loss"] for r in read_metrics(run_dir / "metrics.jsonl") if "loss" in r]
    assert config["loss"] == "hinge2" and losses and all(math.isfinite(x) for x in losses)


def test_the_oracle(guide_runs):
    config, _, _ = finished(guide_runs, "oracle")
    assert config["oracle"] == "longer"


def test_the_recipe(guide_runs):
    config, _, _ = finished(guide_runs, "recipe")
    assert (config["preset"], config["explorer"], config["schedule"]) == ("sea-bai", "sea-bai", "online")


def test_the_schedule_evaluates_at_half_the_budget(guide_runs):
    config, _, run_dir = finished(guide_runs, "schedule")
    assert config["schedule"] == "halfway"
    assert [r["queries"] for r in evaluations(run_dir)] == [0, BUDGET // 2, BUDGET]  # the start and end: the loop's


def test_the_analysis_reads_the_schedule_as_learning_online(guide_runs):
    """``halfway`` learns every step (it is an OnlineSchedule), so its curve is read on the straight
    line between evaluations, not held as a round-based run's: its traits say so, not its name."""
    finished(guide_runs, "schedule")
    result, _ = guide_runs["schedule"]
    assert "analysis_error" not in result, result.get("analysis_error")
    assert result["holds_between_evaluations"] is False


def test_the_task(guide_runs):
    config, _, run_dir = finished(guide_runs, "task")
    assert config["task"] == "word-count"
    from sealign.records.samples import read_samples

    prompts = [sample["prompt"] for record in read_samples(run_dir) for sample in record["samples"]]
    assert prompts and all(prompt.startswith("describe ") for prompt in prompts)


def test_the_examples_keep_to_the_import_walls(guide_copy):
    """What the guide's new files import is allowed where they live (the rules of
    tests/unit/codebase/test_import_rules.py)."""
    from tests.unit.codebase.test_import_rules import NEVER, ONLY, room_of, sealign_imports

    package, _ = guide_copy
    added = [path for path in package.rglob("*.py") if not (ROOT / path.relative_to(package.parent)).exists()]
    assert len(added) == 4  # the explorer, the oracle, the recipe and the task
    for path in added:
        own = path.relative_to(package).parts[0]
        for line, module in sealign_imports(path):
            target = room_of(module)
            assert target == own or (target in ONLY[own] if own in ONLY else target not in NEVER.get(own, set())), \
                f"{path.name}:{line} imports {module}"
