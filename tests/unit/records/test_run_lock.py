"""The run-directory lock (sealign/run/run_lock.py): one process at a time writes a run."""

from __future__ import annotations

import os

import pytest

from sealign.errors import UserError
from sealign.run.run_lock import run_lock


def test_a_locked_run_directory_refuses_a_second_holder_naming_the_first(tmp_path):
    holder = f"in use by another sealign process \\(pid {os.getpid()}\\)"
    with run_lock(tmp_path / "run"), pytest.raises(UserError, match=holder), run_lock(tmp_path / "run"):
        pass
    with run_lock(tmp_path / "run"):  # released on exit
        pass
