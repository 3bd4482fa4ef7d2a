"""bench/real_pairs.py: curves recorded from run folders, and paired differences computed from them."""

import json

import pytest

from bench import real_pairs


def make_run(runs_dir, name, win_rates, rewards=None):
    run_dir = runs_dir / name
    run_dir.mkdir(parents=True)
    lines = []
    for n, win in enumerate(win_rates):
        lines.append({"queries": 128 * n, "eval/win_rate": win, "eval/reward": (rewards or win_rates)[n]})
        lines.append({"queries": 128 * n, "loss": 0.5})  # a training line: not an evaluation
    lines.append(dict(lines[-2]))  # a resumed run repeats its final evaluation: read once
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (run_dir / "summary.json").write_text("{}")


def test_record_keeps_each_runs_curve_and_replaces_a_rerun(tmp_path):
    curves = tmp_path / "curves.json"
    make_run(tmp_path / "a", "real-v1-s0", [0.5, 0.6, 0.7], rewards=[0.3, 0.4, 0.45])
    (tmp_path / "a" / "real-v1-s1").mkdir()  # unfinished (no summary.json): left out
    assert real_pairs.record(tmp_path / "a", "x", curves) == ["real-v1-s0"]
    make_run(tmp_path / "b", "real-v1-s0", [0.5, 0.55])
    real_pairs.record(tmp_path / "b", "x", curves)
    data = json.loads(curves.read_text())
    assert data["studies"]["x"]["arms"]["real-v1"] == {
        "0": {"queries": [0, 128], "win_rate": [0.5, 0.55], "reward": [0.5, 0.55]}}


def test_compare_pairs_by_seed_and_reports_the_bootstrap_interval():
    q = [0, 256, 512]
    data = {"studies": {"x": {"arms": {
        "base": {"0": {"queries": q, "win_rate": [0.5, 0.6, 0.6]}, "1": {"queries": q, "win_rate": [0.5, 0.5, 0.7]}},
        "arm": {"0": {"queries": q, "win_rate": [0.5, 0.7, 0.7]}, "1": {"queries": q, "win_rate": [0.5, 0.6, 0.6]},
                "2": {"queries": q, "win_rate": [0.5, 0.5, 0.5]}}}}}}
    table = real_pairs.compare(data, "x", "base", ["arm"])
    base_row, arm_row = table[2], table[3]
    # AUC (trapezoids over 512 queries): base seeds 0.575, 0.55; arm seeds 0.65, 0.575 (and 0.5 unpaired)
    assert "0.650 ± 0.071" in base_row and "0.562 ± 0.018" in base_row
    # paired seeds 0 and 1: final +0.1, -0.1 -> mean 0; AUC +0.075, +0.025 -> mean +0.05, interval [+0.025, +0.075]
    assert "| 0, 1 |" in arm_row and "+0.000 [-0.100, +0.100]" in arm_row and "+0.050 [+0.025, +0.075]" in arm_row


def test_unknown_study_or_arm_is_one_line():
    data = {"studies": {"x": {"arms": {"base": {}}}}}
    with pytest.raises(SystemExit, match="no study 'y'"):
        real_pairs.compare(data, "y", "base", [])
    with pytest.raises(SystemExit, match="no arm nope"):
        real_pairs.compare(data, "x", "base", ["nope"])
    with pytest.raises(SystemExit, match="no study 'z'"):
        real_pairs.compare(data, "x", "base", ["z/base"])


def test_an_arm_of_another_study_pairs_by_seed():
    q = [0, 512]
    data = {"studies": {"old": {"arms": {"a": {"0": {"queries": q, "win_rate": [0.5, 0.6]}}}},
                        "new": {"arms": {"a": {"0": {"queries": q, "win_rate": [0.5, 0.7]}}}}}}
    assert "| 0 | +0.100 | +0.050 |" in real_pairs.compare(data, "new", "old/a", ["a"])[3]


def test_a_run_kept_by_its_final_win_rate_alone_pairs_in_the_final_and_not_in_the_auc():
    q = [0, 256, 512]
    data = {"studies": {"x": {"arms": {
        "base": {"0": {"queries": q, "win_rate": [0.5, 0.6, 0.6]}, "1": {"queries": q, "win_rate": [0.5, 0.5, 0.7]}},
        "arm": {"0": {"queries": [512], "win_rate": [0.8]}, "1": {"queries": q, "win_rate": [0.5, 0.6, 0.6]}}}}}}
    arm_row = real_pairs.compare(data, "x", "base", ["arm"])[3]
    assert "+0.050 [-0.100, +0.200]" in arm_row  # finals: +0.2 and -0.1
    assert "+0.025 (seeds 1)" in arm_row  # AUC: seed 1 only (0.575 - 0.55)
