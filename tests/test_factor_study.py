"""bench/factor_study.py: the job order and the study table, on hand-made run directories."""

from bench import factor_study
from tests.test_compare_stats import GRID, make_run


def test_jobs_go_seed_major_and_the_longest_first(tmp_path):
    jobs = factor_study.plan(["base", "offline"], 2, tmp_path)
    assert [j.seed for j in jobs] == sorted(j.seed for j in jobs)  # seed 0 of every cell before seed 1
    first_seed = [j for j in jobs if j.seed == 0]
    assert first_seed[0].arm.label == "offline-30x" and len(first_seed) == 7 + 4
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
