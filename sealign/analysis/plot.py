"""Win rate versus oracle queries, for one run or several overlaid (seeds of a preset share a colour)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sealign.analysis.curves import holds_between_evaluations  # noqa: E402
from sealign.analysis.run_files import run_settings  # noqa: E402
from sealign.errors import UserError  # noqa: E402
from sealign.records.tracking import read_metrics  # noqa: E402


def eval_curve(run_dir: Path) -> tuple[list[int], list[float]]:
    """(queries, win rates) of a run's evaluations: against the SFT policy, or against the prompts'
    references when the run was set to (``eval_against: reference``)."""
    key = headline_key(run_dir)
    records = eval_records(run_dir)
    return [r["queries"] for r in records], [r[key] for r in records]


def eval_records(run_dir: Path) -> list[dict]:
    """Every metrics.jsonl record of an evaluation (one with the headline win rate), with all its
    eval/ metrics (eval/win_prob, eval/reward where the task has a reward, ...)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no metrics.jsonl)")
    key = headline_key(run_dir)
    return [r for r in read_metrics(path) if key in r]


def headline_key(run_dir: Path) -> str:
    from sealign.run.eval import HEADLINE_KEYS

    return HEADLINE_KEYS.get(run_settings(run_dir).get("eval_against", "sft"), "eval/win_rate")


def run_label(run_dir: Path) -> str:
    settings = run_settings(run_dir)
    variant = settings.get("variant") or 0
    return f"{settings.get('preset', run_dir.name)}" + (f":{variant}" if variant else "")


def trains_in_rounds(run_dir: Path) -> bool:
    """A run whose schedule changes the policy only when a round trains (offline, iterative): drawn as steps."""
    return holds_between_evaluations(run_dir)


def plot_runs(run_dirs: list[Path], out: Path, log_x: bool = False, title: str | None = None) -> Path:
    fig = curve_figure(run_dirs, log_x, title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def curve_figure(run_dirs: list[Path], log_x: bool = False, title: str | None = None):
    groups: dict[str, list[Path]] = defaultdict(list)
    for run_dir in run_dirs:
        groups[run_label(run_dir)].append(run_dir)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for colour, (label, dirs) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4, groups.items()):
        for k, run_dir in enumerate(dirs):
            xs, ys = eval_curve(run_dir)
            # A round-based run holds its last policy's value until the next round trains: a step at each
            # training point, not a straight line suggesting it improved between evaluations.
            ax.plot(xs, ys, marker="o", ms=3, color=colour, alpha=0.85 if len(dirs) == 1 else 0.6,
                    label=label if k == 0 else None, drawstyle="steps-post" if trains_in_rounds(run_dir) else "default")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("oracle queries")
    against = {"eval/win_rate": "SFT policy", "eval/win_rate_vs_reference": "references"}
    ax.set_ylabel("win rate vs " + " / ".join(dict.fromkeys(against[headline_key(d)] for d in run_dirs)))
    if log_x:
        ax.set_xscale("symlog", linthresh=max(1, min(_first_positive(run_dirs), 100)))
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or "win rate vs queries")
    fig.tight_layout()
    return fig


def _first_positive(run_dirs: list[Path]) -> int:
    xs = [x for d in run_dirs for x in eval_curve(d)[0] if x > 0]
    return min(xs) if xs else 1
