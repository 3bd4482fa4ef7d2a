"""A run's records in real runs and processes: a second `sealign run --resume` of a running run stops at
once, and TRL trains on an exported run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sealign.analysis.export import export_run
from sealign.run.run_lock import run_lock


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


def test_trl_dpo_trainer_trains_on_an_exported_run(finished_tiny_run, tiny_policy_folder, tmp_path):
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    out, _ = export_run(finished_tiny_run, "jsonl", tmp_path / "prefs.jsonl")
    dataset = datasets.load_dataset("json", data_files=str(out), split="train")
    args = trl.DPOConfig(output_dir=str(tmp_path / "trl"), max_steps=2, per_device_train_batch_size=4,
                         report_to="none", save_strategy="no", logging_steps=1, use_cpu=True,
                         dataloader_num_workers=0)
    # The policy as a folder, as TRL is usually given a model: it loads its own reference copy from there.
    trainer = trl.DPOTrainer(model=str(tiny_policy_folder), args=args, train_dataset=dataset)
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0
