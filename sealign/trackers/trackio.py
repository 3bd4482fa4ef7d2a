"""Trackio (the `trackio` extra): Hugging Face's local-first tracker, recommended by TRL. Runs are kept in a
local SQLite database (TRACKIO_DIR, default ~/.cache/huggingface/trackio) and shown by `trackio show`;
nothing leaves the machine unless TRACKIO_SPACE_ID or TRACKIO_SERVER_URL says where to."""

from __future__ import annotations

import os
from pathlib import Path

from sealign.errors import UserError
from sealign.trackers import metric_scalars, summary_scalars


def require():
    try:
        import trackio
    except ImportError as err:
        raise UserError("--report-to trackio needs the trackio package: pip install 'sealign[trackio]'") from err
    return trackio


class TrackioTracker:
    def __init__(self, run):
        self.run = run
        self.last_step = 0

    def log_metrics(self, record: dict) -> None:
        # Trackio's step, like W&B's, must only grow; an evaluation shares the step of the update before it.
        self.last_step = int(record.get("step", self.last_step))
        self.run.log(metric_scalars(record), step=self.last_step)

    def log_summary(self, summary: dict, plot: Path) -> None:
        trackio = require()
        entries = dict(summary_scalars(summary))
        if plot.is_file():
            entries["winrate"] = trackio.Image(str(plot))
        self.run.log(entries, step=self.last_step)

    def close(self) -> None:
        self.run.finish()


def open_tracker(run_dir: Path, run_name: str, config: dict, log) -> TrackioTracker:
    trackio = require()
    project = os.environ.get("TRACKIO_PROJECT", "sealign")
    # A resumed run continues its trackio run (same name); no CPU / GPU sampling thread beside the loop.
    run = trackio.init(project=project, name=run_name, config=config, resume="allow", embed=False,
                       auto_log_cpu=False, auto_log_gpu=False)
    log(f"trackio: trackio show --project {project}")
    return TrackioTracker(run)
