"""The published repository stands on its own: no tracked file points a reader at files outside it
(the workspace's design notes, reviews and paper notes are not published)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ("../shared", "shared/reviews/", "shared/papers/", "FORMULAS.md", "DESIGN.md")


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.stdout.split("\0") if name]


def test_no_tracked_file_refers_to_files_outside_the_repository():
    offenders = []
    for path in tracked_files():
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:  # a plot, a model file
            continue
        offenders += [f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}"
                      for number, line in enumerate(text.splitlines(), start=1)
                      if any(outside in line for outside in OUTSIDE)]
    assert offenders == [], "\n".join(offenders)
