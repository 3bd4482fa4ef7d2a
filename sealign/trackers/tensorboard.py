"""TensorBoard through `torch.utils.tensorboard` (the `tensorboard` extra); event files in RUN_DIR/tensorboard/."""

from __future__ import annotations

from pathlib import Path

import yaml

from sealign.errors import UserError
from sealign.trackers import metric_scalars, summary_markdown, summary_scalars


def require() -> None:
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
    except ImportError as err:
        raise UserError("--report-to tensorboard needs the tensorboard package: pip install 'sealign[tensorboard]'") \
            from err


class TensorBoardTracker:
    def __init__(self, log_dir: Path, config: dict):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.writer.add_text("config", "```yaml\n" + yaml.safe_dump(config, sort_keys=False) + "```", 0)
        self.last_step = 0

    def log_metrics(self, record: dict) -> None:
        self.last_step = int(record.get("step", self.last_step))
        for name, value in metric_scalars(record).items():
            self.writer.add_scalar(name, value, self.last_step)

    def log_summary(self, summary: dict, plot: Path) -> None:
        for name, value in summary_scalars(summary).items():
            self.writer.add_scalar(name, value, self.last_step)
        self.writer.add_text("summary", summary_markdown(summary), self.last_step)
        if plot.is_file():
            import matplotlib.image

            image = matplotlib.image.imread(plot)[..., :3]  # RGBA floats in [0, 1] -> RGB
            self.writer.add_image("winrate", image, self.last_step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


def open_tracker(run_dir: Path, run_name: str, config: dict, log) -> TensorBoardTracker:
    require()
    log_dir = run_dir / "tensorboard"
    log(f"tensorboard: tensorboard --logdir {log_dir}")
    return TensorBoardTracker(log_dir, config)
