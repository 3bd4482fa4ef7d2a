"""A run's records as separate processes meet them: a second `sealign run --resume` of a running run."""

from __future__ import annotations

import os
import subprocess
import sys

from sealign.run_lock import run_lock


def test_a_second_process_resuming_a_running_run_exits_at_once_in_one_line(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("seed: 0\n")
    with run_lock(run_dir):
        done = subprocess.run([sys.executable, "-m", "sealign.cli", "run", "--resume", str(run_dir)],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and f"pid {os.getpid()}" in lines[0], done.stderr
