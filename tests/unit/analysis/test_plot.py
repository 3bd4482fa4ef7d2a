"""Win-rate curves: an online run is a line through its evaluations; a round-based run is a step function."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import yaml

from sealign.analysis.plot import curve_figure, plot_runs


def fake_run(path, schedule: str, curve: list[tuple[int, float]]):
    path.mkdir()
    (path / "config.yaml").write_text(yaml.safe_dump({"preset": f"p-{schedule}", "schedule": schedule}))
    (path / "metrics.jsonl").write_text("".join(json.dumps({"step": k, "queries": q, "eval/win_rate": w}) + "\n"
                                                for k, (q, w) in enumerate(curve)))
    return path


def test_round_based_runs_hold_their_value_until_they_train(tmp_path):
    online = fake_run(tmp_path / "online", "online", [(0, 0.5), (64, 0.6), (128, 0.7)])
    offline = fake_run(tmp_path / "offline", "offline", [(0, 0.5), (128, 0.65)])
    fig = curve_figure([online, offline])
    drawn = {line.get_label(): line for line in fig.axes[0].lines if not line.get_label().startswith("_")}
    assert drawn["p-online"].get_drawstyle() == "default"
    assert drawn["p-offline"].get_drawstyle() == "steps-post"  # flat at the SFT value, then a step at 128
    plt.close(fig)
    assert plot_runs([online, offline], tmp_path / "w.png").stat().st_size > 0
