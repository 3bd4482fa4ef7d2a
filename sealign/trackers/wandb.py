"""Weights & Biases (the `wandb` extra). Without WANDB_API_KEY (and no WANDB_MODE) the run is logged
offline, its files in RUN_DIR/wandb/, to be uploaded later with `wandb sync`: a run never fails or
waits for want of an account or a network."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sealign.errors import UserError
from sealign.trackers import metric_scalars, summary_scalars


def require():
    try:
        import wandb
    except ImportError as err:
        raise UserError("--report-to wandb needs the wandb package: pip install 'sealign[wandb]'") from err
    return wandb


def wandb_mode() -> str:
    return os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")


def run_id(run_dir: Path) -> str:
    """One W&B run per sealign run: the id is kept in the run directory so that --resume continues it."""
    file = run_dir / "wandb-run-id"
    if not file.is_file():
        file.write_text(uuid.uuid4().hex[:12])
    return file.read_text().strip()


class WandbTracker:
    def __init__(self, run):
        self.run = run
        self.last_step = 0

    def log_metrics(self, record: dict) -> None:
        # W&B's own step must only grow; an evaluation shares its step with the update before it,
        # and a round logs many epochs at one loop step, so the loop step travels as a metric.
        self.last_step = int(record.get("step", self.last_step))
        self.run.log({**metric_scalars(record), "step": self.last_step})

    def log_summary(self, summary: dict, plot: Path) -> None:
        import wandb

        self.run.summary.update({k: v for k, v in summary.items() if k != "curve"})
        self.run.summary.update(summary_scalars(summary))
        if plot.is_file():
            self.run.log({"winrate": wandb.Image(str(plot)), "step": self.last_step})

    def close(self) -> None:
        self.run.finish()


def open_tracker(run_dir: Path, run_name: str, config: dict, log) -> WandbTracker:
    wandb = require()
    mode = wandb_mode()
    run = wandb.init(project=os.environ.get("WANDB_PROJECT", "sealign"), name=run_name, id=run_id(run_dir),
                     resume="allow", dir=str(run_dir), config=config, mode=mode, reinit="create_new")
    run.define_metric("step")
    run.define_metric("*", step_metric="step")
    if mode == "offline":
        log(f"wandb: offline (no WANDB_API_KEY); upload later with `wandb sync {run_dir}/wandb/offline-run-*`")
    return WandbTracker(run)
