"""bench/factor_study.py: the job order and the study table, on hand-made run directories."""

from bench import factor_study
from tests.test_compare_stats import GRID, make_run


def test_jobs_go_seed_major_and_the_longest_first(tmp_path):
    jobs = factor_study.plan(["base", "offline"], 2, tmp_path)
    assert [j.seed for j in jobs] == sorted(j.seed for j in jobs)  # seed 0 of every cell before seed 1
    first_seed = [j for j in jobs if j.seed == 0]
    assert first_seed[0].arm.label == "offline-30x" and len(first_seed) == 13 + 5
    assert jobs[0].run_dir == tmp_path / "offline" / "runs" / "offline-30x-s0"
    assert len(factor_study.plan(["bf16"], 10, tmp_path)) == 2 * 4  # the cell's own seed count


def test_the_study_table_marks_savings_whose_interval_clears_2x(tmp_path):
    runs = tmp_path / "m8" / "runs"
    for s in range(6):  # passive first reaches its final 0.9 at 1024 queries, sea at 256: 4x in every seed
        make_run(runs, "online-dpo", s, [0.5, 0.6, 0.7, 0.8, 0.9], name=f"passive-s{s}")
        make_run(runs, "sea:2", s, [0.5, 0.9, 0.9, 0.9, 0.92], name=f"sea-s{s}")
    assert GRID[-1] == 1024
    md = factor_study.report(["m8"], tmp_path).read_text()
    [row] = [line for line in md.splitlines() if line.startswith("| m8 | sea |")]
    assert "4.00× [4.00, 4.00] *" in row and row.endswith("| yes | yes |")
    cell_md = (tmp_path / "m8" / "comparison.md").read_text()
    assert "--arm passive=online-dpo --arm sea=sea:2 --seeds 6 --baseline passive" in cell_md
    assert "--num-candidates 8" in cell_md


def test_offline_arms_are_paired_with_the_online_arms_of_the_base_cell(tmp_path):
    for s in range(2):
        make_run(tmp_path / "base" / "runs", "online-dpo", s, [0.5, 0.6, 0.7, 0.8, 0.9], name=f"passive-s{s}")
        make_run(tmp_path / "base" / "runs", "sea:3", s, [0.5, 0.7, 0.8, 0.9, 0.95], name=f"sea-sync-s{s}")
        make_run(tmp_path / "offline" / "runs", "offline-dpo", s, [0.5, 0.5, 0.5, 0.5, 0.85], name=f"offline-1x-s{s}")
    md = factor_study.report(["offline"], tmp_path).read_text()
    assert "| offline | offline-1x | 2 | -0.050 [-0.050, -0.050] |" in md
    assert "base/sea-sync" not in md  # borrowed arms have their rows in their own cell
    cell_md = (tmp_path / "offline" / "comparison.md").read_text()
    assert "## Against the baseline `base/passive`" in cell_md and "| base/sea-sync | 2 | +0.050" in cell_md
    assert "bench/factor_study.py --out" in cell_md and "--cells base,offline" in cell_md
