"""The published repository stands on its own: no tracked file points a reader at files outside it
(the workspace's design notes, reviews and paper notes are not published)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

OUTSIDE = ("../shared", "shared/reviews/", "shared/papers/", "FORMULAS.md", "DESIGN.md", "/work/")
"""The workspace's notes (``../shared/papers/FORMULAS.md``, ``shared/reviews/...``, ``../shared/DESIGN.md``)
and its checkouts."""
RELATIVE = re.compile(r"\]\(([^)\s#]+)|(?<![\w/.])((?:\.\./)+[\w./-]+)")
"""A Markdown link's target, or a path that climbs with ``../``."""


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.stdout.split("\0") if name]


def tracked_texts() -> list[tuple[Path, str]]:
    texts = []
    for path in tracked_files():
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        try:
            texts.append((path, path.read_text()))
        except UnicodeDecodeError:  # a plot, a model file
            continue
    return texts


def test_no_tracked_file_refers_to_files_outside_the_repository():
    offenders = [f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}"
                 for path, text in tracked_texts() for number, line in enumerate(text.splitlines(), start=1)
                 if any(outside in line for outside in OUTSIDE)]
    assert offenders == [], "\n".join(offenders)


def test_no_relative_path_climbs_out_of_the_repository():
    """A link or ``../`` path that leaves the repository, whatever it names (docs, tests, the package)."""
    offenders = []
    for path, text in tracked_texts():
        for number, line in enumerate(text.splitlines(), start=1):
            for match in RELATIVE.finditer(line):
                target = match.group(1) or match.group(2)
                if re.match(r"^[a-z][a-z+.-]*:", target):  # https:, mailto:
                    continue
                # a link is read from its file's folder; a path in prose may be meant from either
                bases = [path.parent] if match.group(1) else [path.parent, ROOT]
                if any(not (base / target).resolve().is_relative_to(ROOT) for base in bases):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {target}")
    assert offenders == [], "\n".join(offenders)


def test_the_checks_see_what_they_look_for():
    assert any(outside in "see ../shared/papers/FORMULAS.md" for outside in OUTSIDE)
    assert any(outside in "(shared/reviews/correctness-review.md)" for outside in OUTSIDE)
    found = [m.group(1) or m.group(2) for m in RELATIVE.finditer("[a](../../x.md) and ../../y/z.py, not a/../b")]
    assert found == ["../../x.md", "../../y/z.py"]
