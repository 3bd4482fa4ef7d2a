"""Who may import whom (docs/extending.md, "What each folder may import"), read from the source with ``ast``.

Arrows point down: the loop and the assembly know the parts; a part never knows the loop, the
assembly or another part's room except through the small shared modules (``types``, ``errors``,
``lookup``). A new import that breaks a wall fails here with the file and the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sealign"

# The only sealign modules a room may import besides its own files (None: no limit but NEVER).
ONLY = {
    "exploration": {"types", "errors", "lookup"},
    "recipes": {"errors", "lookup"},
    "losses": set(),
    "types": set(),
    "errors": set(),
    "lookup": {"errors"},
}
# The loop and the assembly sit above every part.
ABOVE_THE_PARTS = {"cli", "loop", "loop_state", "collect", "schedules", "components", "explorer_inputs", "summary"}
NEVER = {
    **{room: ABOVE_THE_PARTS for room in ("exploration", "oracles", "tasks", "policy", "runtime", "data", "recipes",
                                          "trackers", "server", "losses", "learner", "reference", "checkpoint",
                                          "label_plan", "actor", "eval", "model_labels", "round_selection",
                                          "warm_start", "types", "config")},
    "tasks": ABOVE_THE_PARTS | {"exploration", "data"},
    "oracles": ABOVE_THE_PARTS | {"exploration"},
}


def room_of(module: str) -> str:
    """``sealign.exploration.sea_ee`` -> ``exploration``; ``sealign.loop`` -> ``loop``."""
    return module.split(".")[1]


def sealign_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``sealign.*`` import in ``path``, also those inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "sealign":
                found += [(node.lineno, f"sealign.{alias.name}") for alias in node.names]
            elif node.module.startswith("sealign."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("sealign.")]
    return found


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_keep_to_the_rooms(path):
    own = path.relative_to(PACKAGE).with_suffix("").parts[0]
    broken = []
    for line, module in sealign_imports(path):
        target = room_of(module)
        if target == own:
            continue
        if own in ONLY and target not in ONLY[own]:
            broken.append(f"{path.name}:{line} imports {module} ({own}/ may import only {sorted(ONLY[own])})")
        elif target in NEVER.get(own, set()):
            broken.append(f"{path.name}:{line} imports {module} ({own} never imports {target})")
    assert not broken, "\n".join(broken)


def test_the_rules_see_the_imports():
    """The checker itself: it finds top-level and function-level imports of both spellings."""
    assert any(module == "sealign.exploration.base" for _, module in sealign_imports(PACKAGE / "model_labels.py"))
    assert any(module == "sealign.plot" for _, module in sealign_imports(PACKAGE / "summary.py"))  # in a function


SETTINGS = sorted(PACKAGE.glob("*/settings.py")) + [PACKAGE / "loss_settings.py", PACKAGE / "schedule_settings.py"]


@pytest.mark.parametrize("path", SETTINGS, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_settings_modules_are_leaves(path):
    """``config.py`` composes them into RunConfig, and every part imports config: a settings module
    that imported a part would close a circle."""
    assert sealign_imports(path) == []
