"""What a run directory says about how it ran, for the analysis (``curves``, ``plot``, ``compare``,
``report``): its settings (config.yaml) and its schedule's traits (summary.json). The one reader of a
run's config.yaml outside the run itself.

Runs written before summary.json recorded the traits are read by their schedule's name in config.yaml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sealign.run.schedule_settings import SCHEDULE_TRAITS, ScheduleTraits

UNKNOWN_SCHEDULE = ScheduleTraits(policy_changes="per-round", learns_online=False)
"""An old run's schedule that is no longer declared: read as holding between evaluations."""


@dataclass(frozen=True)
class RecordedSettings:
    """A run directory's config.yaml (``values``; empty without one) and its summary.json's traits."""

    run_dir: Path
    values: dict

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    @property
    def traits(self) -> ScheduleTraits:
        """Whether and when the run's policy changed: as its summary.json records it, else as its
        schedule's name in config.yaml declares."""
        summary_file = self.run_dir / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        if "policy_changes" in summary:
            return ScheduleTraits(summary["policy_changes"], bool(summary.get("learns_online")))
        return SCHEDULE_TRAITS.get(self.get("schedule", "online"), UNKNOWN_SCHEDULE)


def run_settings(run_dir: Path) -> RecordedSettings:
    """``run_dir``'s recorded settings (read once; the traits are read from summary.json when asked)."""
    import yaml

    config_file = run_dir / "config.yaml"
    values = (yaml.safe_load(config_file.read_text()) if config_file.is_file() else None) or {}
    return RecordedSettings(run_dir, values)
