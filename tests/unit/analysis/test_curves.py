"""Reading a run's curves (sealign/analysis/curves.py): a round-based run's curve held between its rounds, query
savings on the win-rate and the reward curve, and what a run paid (updates, identical pairs).
Hand-computed values throughout."""

from __future__ import annotations

import json

import pytest
import yaml

from sealign.analysis import compare, curves

OFFLINE_GRID = [0, 768]


def test_a_round_based_curve_reaches_a_value_only_where_a_round_trained():
    # offline DPO: the SFT policy (0.5) deployed until its only round trains at 768
    xs, ys = [0, 768], [0.5, 0.85]
    assert curves.queries_to_reach(xs, ys, 0.8) == pytest.approx(0.3 / 0.35 * 768)  # online reading: too early
    assert curves.queries_to_reach(xs, ys, 0.8, hold=True) == 768.0
    iterative = ([0, 256, 512, 768], [0.5, 0.6, 0.7, 0.9])
    assert curves.queries_to_reach(*iterative, 0.65, hold=True) == 512.0
    assert curves.queries_to_reach(*iterative, 0.5, hold=True) == 0.0
    assert curves.queries_to_reach(*iterative, 0.95, hold=True) is None


def test_the_saving_of_an_offline_run_is_never_above_one_against_a_run_that_got_there_within_its_budget():
    online = ([0, 256, 512, 768], [0.5, 0.7, 0.8, 0.8])  # first reaches 0.8 at 512
    offline = (OFFLINE_GRID, [0.5, 0.85])
    assert curves.query_saving(online, offline, preset_hold=True) == (512 / 768, True)
    # read on the straight line, offline would "reach" 0.8 at ~658 queries
    assert curves.query_saving(online, offline)[0] > 512 / 768


def make_run(runs_dir, name, seed, schedule, points, batch_size=32, step_records=()):
    run_dir = runs_dir / f"{name}-s{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(
        {"preset": name, "seed": seed, "schedule": schedule, "batch_size": batch_size}))
    lines = [*step_records] + [{"step": 0, "queries": q, "eval/win_rate": w, "eval/reward": r} for q, w, r in points]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (run_dir / "summary.json").write_text(json.dumps({"preset": name, "wall_time_s": 1.0}))
    return run_dir


def test_compare_holds_an_offline_run_and_reads_the_saving_on_the_reward_too(tmp_path):
    runs = []
    for seed in range(2):
        runs.append(("online", make_run(tmp_path, "online", seed, "online",
                                        [(0, 0.5, 0.1), (384, 0.8, 0.3), (768, 0.8, 0.4)])))
        runs.append(("offline", make_run(tmp_path, "offline", seed, "offline", [(0, 0.5, 0.1), (768, 0.9, 0.5)])))
    results = compare.summarise(runs)
    offline = next(r for r in results if r.preset == "offline")
    assert offline.to_reach[0.6] == [768.0, 768.0]  # not interpolated between 0 and 768
    [c] = compare.compare_to_baseline(results, "online")
    assert c.saving.estimate == pytest.approx(384 / 768)
    assert c.reward_saving.estimate == pytest.approx(768 / 768)  # online first reaches 0.4 at its end
    compare.write_report(results, tmp_path, "cmd", False, [c])
    text = (tmp_path / "comparison.md").read_text()
    assert "query saving (reward)" in text and "round-based run's at the first evaluation" in text


def test_run_costs_count_updates_small_steps_and_paid_duplicates(tmp_path):
    steps = [
        {"step": 0, "queries": 32, "answers/skipped": 0, "answers/identical_pair": 0.25, "loss": 0.6,
         "learn/pairs": 24},
        {"step": 1, "queries": 55, "answers/skipped": 3, "answers/identical_pair": 0.0, "loss": 0.5,
         "learn/pairs": 20, "answers/identical_not_asked": 2},
        {"step": 2, "queries": 64, "answers/skipped": 0, "answers/identical_pair": 0.0, "loss": 0.5,
         "learn/pairs": 9},
    ]
    run_dir = make_run(tmp_path, "x", 0, "online", [(64, 0.6, 0.2)], step_records=steps)
    costs = curves.run_costs(run_dir, batch_size=32)
    assert costs.queries == 64 and costs.updates == 3
    assert costs.updates_per_query == pytest.approx(3 / 64)
    assert costs.pairs_per_update == pytest.approx(53 / 3)
    assert costs.small_updates == 1  # 9 < 16
    assert costs.identical_asked == pytest.approx(8 / (32 + 20 + 9))  # 0.25 of step 0's 32 answers
    assert costs.identical_not_asked == 2
