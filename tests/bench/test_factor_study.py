"""bench/factor_study.py: the job order, the tuned arms and the study table, on hand-made run directories."""

import json

import yaml

from bench import factor_study
from tests.unit.analysis.test_compare import GRID, make_run


def test_the_tuning_runs_first_then_the_cells_seed_major_and_the_longest_first(tmp_path):
    jobs = factor_study.plan(["tune", "base", "shape-768"], 2, tmp_path)
    tuning = [j for j in jobs if j.cell == "tune"]
    assert jobs[: len(tuning)] == tuning and {j.seed for j in tuning} == {100, 101}
    rest = jobs[len(tuning):]
    assert [j.rank for j in rest] == sorted(j.rank for j in rest)  # seed 0 of every cell before seed 1
    assert rest[0].cell == "base"  # the shape cells wait six seeds of the others
    first_shape = next(j for j in rest if j.cell == "shape-768")
    assert first_shape.rank == 6 and first_shape.run_dir == tmp_path / "shape-768" / "runs" / "offline-10x-s0"
    assert not any(j.arm.label.endswith("-tuned") for j in jobs)  # not before the tuning finished


def finished_tuning(out, rewards):
    """Tuning runs with a given final reward per arm label (missing labels: not run)."""
    for spec in factor_study.CELLS["tune"].arms:
        label = spec.split("=")[0]
        if label not in rewards:
            continue
        for seed in (100, 101):
            run_dir = out / "tune" / "runs" / f"{label}-s{seed}"
            run_dir.mkdir(parents=True)
            (run_dir / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "schedule": "online"}))
            (run_dir / "metrics.jsonl").write_text(json.dumps(
                {"step": 0, "queries": 768, "eval/win_rate": 0.8, "eval/reward": rewards[label]}) + "\n")
            (run_dir / "summary.json").write_text(json.dumps({"preset": label, "wall_time_s": 1.0}))


def test_the_tuned_arm_is_the_grid_point_of_best_final_reward_once_every_point_finished(tmp_path):
    labels = [spec.split("=")[0] for spec in factor_study.CELLS["tune"].arms if spec.startswith("passive-")]
    rewards = {label: 0.1 for label in labels}
    rewards["passive-lr6e-4-b16"] = 0.3
    finished_tuning(tmp_path, {k: v for k, v in rewards.items() if k != labels[-1]})
    assert factor_study.tuned_arm(tmp_path, "passive") is None  # one grid point unfinished
    finished_tuning(tmp_path, {labels[-1]: 0.1})
    assert factor_study.tuned_arm(tmp_path, "passive") == "passive-tuned=online-dpo --lr 6e-4 --batch-size 16"
    assert "passive-tuned=online-dpo --lr 6e-4 --batch-size 16" in factor_study.cell_arms("base", tmp_path)
    table = "\n".join(factor_study.tuning_table(tmp_path))
    assert "| passive-lr6e-4-b16 | 2 | 0.300 | 0.800 |" in table
    assert "- `passive-tuned=online-dpo --lr 6e-4 --batch-size 16`" in table


def test_the_study_table_marks_savings_whose_interval_clears_2x_and_compares_with_the_fair_controls(tmp_path):
    runs = tmp_path / "base" / "runs"
    for s in range(6):  # passive first reaches its final 0.9 at 1024 queries, sea at 256: 4x in every seed
        make_run(runs, "online-dpo", s, [0.5, 0.6, 0.7, 0.8, 0.9], rewards=[0.1, 0.2, 0.3, 0.4, 0.5],
                 name=f"passive-s{s}")
        make_run(runs, "online-dpo", s, [0.5, 0.7, 0.8, 0.9, 0.9], rewards=[0.1, 0.3, 0.4, 0.5, 0.5],
                 name=f"passive-b23-s{s}")
        make_run(runs, "sea:2", s, [0.5, 0.9, 0.9, 0.9, 0.92], rewards=[0.1, 0.5, 0.5, 0.5, 0.55], name=f"sea-s{s}")
    assert GRID[-1] == 1024
    md = factor_study.report(["base"], tmp_path).read_text()
    [row] = [line for line in md.splitlines() if line.startswith("| base | sea | passive |")]
    assert "4.00× [4.00, 4.00] *" in row and row.endswith("| yes |")
    [fair] = [line for line in md.splitlines() if line.startswith("| base | sea | passive-b23 |")]
    assert "| 3.00× [3.00, 3.00] * |" in fair  # passive-b23 reaches 0.9 at 768
    assert "| 6 | 0.49 | 0.0% |" in fair  # sea's 5 updates in 1024 queries
    cell_md = (tmp_path / "base" / "comparison.md").read_text()
    assert "bench/factor_study.py --out" in cell_md and "--cells base" in cell_md


def test_a_cell_of_plain_arms_names_the_compare_command_that_remakes_it(tmp_path):
    runs = tmp_path / "m20" / "runs"
    for s in range(2):
        make_run(runs, "online-dpo", s, [0.5, 0.6, 0.7, 0.8, 0.9], name=f"passive-s{s}")
        make_run(runs, "sea:2", s, [0.5, 0.7, 0.8, 0.9, 0.9], name=f"sea-s{s}")
    factor_study.report(["m20"], tmp_path)
    cell_md = (tmp_path / "m20" / "comparison.md").read_text()
    assert "--arm 'passive=online-dpo --lr 3e-4' --arm sea=sea:2" in cell_md and "--num-candidates 20" in cell_md
    assert "--eval-every-queries 128" in cell_md


def test_offline_runs_hold_their_value_in_the_shape_cells(tmp_path):
    runs = tmp_path / "shape-256" / "runs"
    for s in range(2):
        make_run(runs, "online-dpo", s, [0.5, 0.6, 0.7, 0.8, 0.9], name=f"online-s{s}")
        run_dir = make_run(runs, "offline-dpo", s, [0.5, 0.5, 0.5, 0.5, 0.95], name=f"offline-3x-s{s}")
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        (run_dir / "config.yaml").write_text(yaml.safe_dump({**config, "schedule": "offline"}))
    md = factor_study.report(["shape-256"], tmp_path).read_text()
    [row] = [line for line in md.splitlines() if line.startswith("| shape-256 | offline-3x | online |")]
    assert "| 1.00× [1.00, 1.00] |" in row  # reaches 0.9 only at its end (1024), as online does
