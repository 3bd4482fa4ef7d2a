"""Who may import whom (docs/extending.md, "What each folder may import"), read from the source with ``ast``.

Arrows point down: the loop and the assembly know the parts; a part never knows the loop, the
assembly or another part's room except through the small shared modules (``types``, ``errors``,
``lookup``) and the rooms below it. A new import that breaks a wall fails here with the file and the
line, and one that closes a circle (between modules, or between rooms: folders and top-level
modules) fails with the circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "sealign"

# The only sealign modules a room may import besides its own files (a room not listed: any but NEVER's).
ONLY = {
    "exploration": {"types", "errors", "lookup"},
    "recipes": {"errors", "lookup"},
    "losses": set(),
    "reward_losses": {"losses"},
    "types": set(),
    "errors": set(),
    "lookup": {"errors"},
    "cache": set(),
    # tasks are prompts and rewards only: the models built for them live in policy/ and oracles/
    "tasks": {"errors"},
    "policy": {"types", "errors", "lookup", "cache", "tasks"},
    "data": {"types", "errors", "lookup", "tasks"},
    "oracles": {"types", "errors", "lookup", "cache", "tasks", "policy", "server", "sqlite_files"},
}
# The loop and the assembly sit above every part.
ABOVE_THE_PARTS = {"cli", "cli_flags", "loop", "loop_state", "collect", "schedules", "components", "explorer_inputs",
                   "summary"}
PARTS = ("exploration", "oracles", "tasks", "policy", "runtime", "data", "recipes", "trackers", "server", "losses",
         "learner", "reference", "checkpoint", "label_plan", "actor", "eval", "model_labels", "round_selection",
         "warm_start", "types", "optimiser")
# config.py composes the parts' settings (oracles/settings.py, policy/settings.py, ...): a part that
# imported it would close a circle.
NEVER = {
    **{room: ABOVE_THE_PARTS | {"config"} for room in PARTS},
    # the analysis reads finished runs; it never runs one
    **{room: ABOVE_THE_PARTS for room in ("compare", "curves", "plot", "run_files", "stats")},
    "config": ABOVE_THE_PARTS,
}


# Folders that group top-level rooms (the floor plan): each of their modules and folders is a room of its own,
# named as before, so the walls above hold between, say, the loop and the actor inside run/.
GROUPS = {"run", "learning", "records", "analysis"}


def room_of(module: str) -> str:
    """``sealign.exploration.sea_ee`` -> ``exploration``; ``sealign.run.loop`` -> ``loop``;
    ``sealign.analysis.compare.launch`` -> ``compare``; a group's own ``__init__`` (``sealign.run``) -> ``run``."""
    parts = module.split(".")
    return parts[2] if parts[1] in GROUPS and len(parts) > 2 else parts[1]


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
    own = room_of(module_of(path)) if path != PACKAGE / "__init__.py" else "__init__"
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
    labels, summary = PACKAGE / "run" / "model_labels.py", PACKAGE / "analysis" / "summary.py"
    assert any(module == "sealign.exploration.base" for _, module in sealign_imports(labels))
    assert any(module == "sealign.analysis.plot" for _, module in sealign_imports(summary))  # in a function


def module_of(path: Path) -> str:
    """``sealign/oracles/judge.py`` -> ``sealign.oracles.judge``; ``sealign/tasks/__init__.py`` -> ``sealign.tasks``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at the top or inside a function (also under
    ``TYPE_CHECKING``). ``from sealign.tasks import summarize`` names the module ``sealign.tasks.summarize``,
    ``from sealign.tasks import get_task`` the package ``sealign.tasks``. Importing a submodule also runs
    its package's ``__init__``; that is not counted as an arrow, as every registry's ``__init__`` imports
    its own members."""
    modules = {module_of(path): path for path in source_files()}

    def known(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("sealign"):
                targets |= {known(f"{node.module}.{alias.name}") for alias in node.names}
            elif isinstance(node, ast.Import):
                targets |= {known(alias.name) for alias in node.names if alias.name.startswith("sealign.")}
        graph[name] = targets - {name, "sealign"}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle ``[a, b, ..., a]`` through each strongly connected group of more than one node."""
    order, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):  # Tarjan's algorithm
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in order:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            group = set()
            while not group or node not in group:
                group.add(stack.pop())
            on_stack.difference_update(group)
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return [circle_in(graph, group) for group in groups]


def circle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first node back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for other in sorted(graph[node] & group):
                if other == start:
                    return paths[node] + [start]
                if other not in paths:
                    paths[other] = paths[node] + [other]
                    following.append(other)
        frontier = following
    raise AssertionError(f"no circle in {sorted(group)}")


def test_no_module_imports_itself_through_others():
    found = circles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" -> ".join(circle) for circle in found)


def test_the_rooms_stand_on_floors():
    """Folders and top-level modules (``oracles``, ``config``, ...) form no circle either: every arrow
    between rooms points down, so the rooms can be stacked in floors."""
    rooms: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        if module == "sealign":  # the package's own __init__ is no room
            continue
        rooms.setdefault(room_of(module), set()).update(room_of(t) for t in targets if room_of(t) != room_of(module))
    for targets in list(rooms.values()):
        for target in targets:
            rooms.setdefault(target, set())
    found = circles(rooms)
    assert not found, "rooms in a circle:\n" + "\n".join(" -> ".join(circle) for circle in found)


def test_the_circle_finder_finds_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e", "d"}}
    assert circles(graph) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b"}, "b": set()}) == []


SETTINGS = sorted(PACKAGE.glob("*/settings.py")) + sorted(PACKAGE.rglob("*_settings.py"))


@pytest.mark.parametrize("path", SETTINGS, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_settings_modules_are_leaves(path):
    """``config.py`` composes them into RunConfig, and every part imports config: a settings module
    that imported a part would close a circle."""
    assert sealign_imports(path) == []
