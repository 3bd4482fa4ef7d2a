"""`sealign compare --baseline`: seed pairing, query savings and the report, on hand-made run directories."""

import csv
import json
import math
from pathlib import Path

import pytest
import yaml

from sealign.analysis import compare
from sealign.analysis.compare import area_under_curve
from sealign.cli import main
from sealign.errors import UserError

GRID = [0, 256, 512, 768, 1024]


def make_run(runs_dir, preset, seed, win_rates, rewards=None, win_probs=None, name=None):
    """A finished run directory as `sealign compare` leaves it: config.yaml, metrics.jsonl, summary.json."""
    run_dir = runs_dir / (name or f"{preset.replace(':', '-v')}-s{seed}")
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"preset": preset, "seed": seed, "schedule": "online"}))
    lines = []
    for k, (queries, win_rate) in enumerate(zip(GRID, win_rates)):
        lines.append({"step": k, "queries": queries, "loss": 0.5})  # a training record: not an evaluation
        record = {"step": k, "queries": queries, "eval/win_rate": win_rate}
        if win_probs is not None:
            record["eval/win_prob"] = win_probs[k]
        if rewards is not None:
            record["eval/reward"] = rewards[k]
        lines.append(record)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (run_dir / "summary.json").write_text(json.dumps({"preset": preset, "wall_time_s": 30.0}))
    return run_dir


def curve(final):
    return [0.5, 0.6, 0.7, 0.8, final]


def test_query_saving_against_hand_computed_curves():
    baseline = (GRID, [0.5, 0.7, 0.8, 0.9, 0.9])  # first reaches its final 0.9 at 768, not at its budget
    assert compare.query_saving(baseline, (GRID, [0.5, 0.8, 0.9, 0.92, 0.93])) == (768 / 512, True)
    assert compare.query_saving(baseline, (GRID, [0.5, 0.6, 0.7, 0.8, 0.85])) == (768 / 1024, False)  # bound
    assert compare.query_saving(baseline, baseline) == (1.0, True)
    assert compare.query_saving((GRID, [0.5, 0.6, 0.5, 0.4, 0.5]), baseline) is None  # no better than its start


def test_queries_to_reach_read_between_evaluations_so_a_finer_grid_gains_nothing():
    assert compare.queries_to_reach(GRID, [0.5, 0.8, 1.0, 1.0, 1.0], 0.9) == 384  # halfway from 256 to 512
    assert compare.queries_to_reach(GRID, [0.95, 0.96, 0.97, 0.98, 0.99], 0.9) == 0  # there from the start
    assert compare.queries_to_reach(GRID, [0.5, 0.6, 0.7, 0.8, 0.85], 0.9) is None
    coarse = (GRID, [0.5, 0.7, 0.9, 0.9, 0.9])
    fine = ([0, 128, 256, 384, 512, 640, 768, 896, 1024], [0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9])
    assert compare.query_saving(coarse, fine) == (1.0, True)  # the same straight line, read at more points
    assert compare.query_saving((GRID, [0.5, 0.7, 0.8, 0.9, 0.9]), (GRID, [0.5, 0.8, 1.0, 1.0, 1.0])) == (2.0, True)


def test_pairs_by_seed_not_by_position(tmp_path):
    # The preset is 0.1 better than the baseline on every seed, though the seeds differ by up to 0.2:
    # paired, the difference is exactly 0.1 with a point interval; listed in another order, still paired.
    dirs = [make_run(tmp_path, "online-dpo", s, curve(0.7 + 0.1 * s), win_probs=[0.5, 0.6, 0.6, 0.6, 0.6 + s / 10])
            for s in range(3)]
    dirs += [make_run(tmp_path, "sea", s, curve(0.8 + 0.1 * s), win_probs=[0.5, 0.6, 0.6, 0.6, 0.65 + s / 10])
             for s in (2, 0, 1)]
    results = compare.summarise(dirs)
    [paired] = compare.compare_to_baseline(results, "online-dpo")
    assert paired.preset == "sea" and sorted(paired.seeds) == [0, 1, 2] and paired.unpaired == []
    win_rate = paired.diffs["final win rate"]
    assert (win_rate.estimate, win_rate.low, win_rate.high) == (pytest.approx(0.1),) * 3
    assert paired.diffs["final win prob"].estimate == pytest.approx(0.05)
    assert "final reward" not in paired.diffs  # no run has eval/reward
    assert paired.diffs["AUC"].excludes(0.0)


def test_identical_presets_differ_by_zero(tmp_path):
    dirs = [make_run(tmp_path, preset, s, curve(0.8 + 0.05 * s), rewards=[0.3, 0.4, 0.5, 0.6, 0.7])
            for preset in ("online-dpo", "sea") for s in range(3)]
    results = compare.summarise(dirs)
    [paired] = compare.compare_to_baseline(results, "online-dpo")
    assert set(paired.diffs) == {"final win rate", "final reward", "AUC"}  # no eval/win_prob in these runs
    for interval in paired.diffs.values():
        assert interval.estimate == 0 and interval.low <= 0 <= interval.high and not interval.excludes(0.0)
    assert paired.saving.estimate == pytest.approx(1.0) and not compare.saving_is_clear(paired)
    md = compare.write_report(results, tmp_path, "sealign compare", False, [paired]).read_text()
    assert "| final reward | AUC |" in md and "final win prob" not in md and "0.700 ± 0.000" in md
    zero = "+0.000 [+0.000, +0.000]"  # no `*`: the interval does not exclude 0
    assert f"| sea | 3 | {zero} | {zero} | {zero} | 1.00× [1.00, 1.00] |" in md


def test_mismatched_seeds_pair_on_the_intersection(tmp_path):
    dirs = [make_run(tmp_path, "online-dpo", s, curve(0.8)) for s in (0, 1, 2)]
    dirs += [make_run(tmp_path, "sea", s, curve(0.9)) for s in (1, 2, 3)]
    [paired] = compare.compare_to_baseline(compare.summarise(dirs), "online-dpo")
    assert paired.seeds == [1, 2] and paired.unpaired == [0, 3]
    lonely = [make_run(tmp_path / "other", "xpo", 7, curve(0.9))]
    with pytest.raises(UserError, match="share no seed"):
        compare.compare_to_baseline(compare.summarise(dirs[:3] + lonely), "online-dpo")
    twice = [make_run(tmp_path / "again", "sea", 1, curve(0.9))]
    with pytest.raises(UserError, match="two runs with the same seed"):
        compare.compare_to_baseline(compare.summarise(dirs + twice), "online-dpo")


def test_a_baseline_not_compared_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(UserError, match="not among the compared presets"):
        compare.compare_to_baseline(compare.summarise([make_run(tmp_path, "sea", 0, curve(0.9))]), "online-dpo")
    code = main(["compare", "--presets", "online-dpo,sea", "--baseline", "ees", "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--baseline 'ees' is not one of the compared arms" in err
    assert not (tmp_path / "c").exists()  # refused before any run started


def test_a_baseline_named_without_its_default_variant_finds_its_runs(tmp_path, capsys):
    assert compare.preset_label("sea") == "sea:3"  # what summary.json records for `--preset sea`
    assert compare.preset_label("sea:2") == "sea:2" and compare.preset_label("online-dpo") == "online-dpo"
    for s in range(2):
        make_run(tmp_path / "runs", "sea:3", s, curve(0.9), name=f"sea-s{s}")
        make_run(tmp_path / "runs", "online-dpo", s, curve(0.8 + s / 100))
    code = main(["compare", "--presets", "sea,online-dpo", "--seeds", "2", "--jobs", "1", "--baseline", "sea",
                 "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    md = (tmp_path / "comparison.md").read_text()
    assert "## Against the baseline `sea:3`" in md
    assert "| online-dpo | 2 | -0.095 [-0.100, -0.090] |" in md  # no `*` from 2 seeds, though it excludes 0


def test_the_report_reads_finished_runs_without_rewards(tmp_path, capsys):
    # Finished run directories in place: `sealign compare` resumes them and runs nothing. `--presets sea`
    # labels its rows as its runs do, with the default variant: sea:3.
    runs = tmp_path / "cmp" / "runs"
    for s in range(6):
        make_run(runs, "online-dpo", s, [0.5, 0.6, 0.7, 0.8, 0.8 + s / 100], win_probs=[0.5, 0.6, 0.7, 0.7, 0.75])
        make_run(runs, "sea:3", s, [0.5, 0.8, 0.86, 0.9, 0.9], win_probs=[0.5, 0.7, 0.8, 0.8, 0.85],
                 name=f"sea-s{s}")
        make_run(runs, "xpo", s, [0.5, 0.55, 0.6, 0.65, 0.7], win_probs=[0.5, 0.5, 0.6, 0.6, 0.6])
    code = main(["compare", "--presets", "online-dpo,sea,xpo", "--seeds", "6", "--jobs", "1",
                 "--baseline", "online-dpo", "--out", str(tmp_path / "cmp")])
    assert code == 0, capsys.readouterr().err
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "final win prob" in md and "final reward" not in md  # no run has eval/reward: no column
    assert "## Against the baseline `online-dpo`" in md
    # The baseline's finals 0.80, 0.81 ... 0.85 are first reached at 768, then 1024 queries; sea reaches
    # 0.80 at 256, the others on its line from (256, 0.80) to (512, 0.86): 256 + 256 * k / 6 for 0.8k.
    # Ratios 3, 1024 / 298.7, 1024 / 341.3, ... 1024 / 469.3, geometric mean 2.75.
    sea_row = [line for line in md.splitlines() if line.startswith("| sea:3 | 6 |")][-1]  # the paired table
    ratios = [3.0] + [1024 / (256 + 256 * k / 6) for k in range(1, 6)]
    assert f"{math.prod(ratios) ** (1 / 6):.2f}" == "2.75"
    assert "| +0.075 [+0.062, +0.088] * |" in sea_row and "| 2.75× [2.43, 3.09] * |" in sea_row
    # xpo never gets to 0.8 in its 1024 queries: ratios at most 768 / 1024, 1, 1, ... (geometric mean 0.95).
    xpo_row = [line for line in md.splitlines() if line.startswith("| xpo | 6 |")][-1]
    assert "≤ 0.95× [0.87, 1.00] (6/6 never reached)" in xpo_row and "1.00] *" not in xpo_row
    with open(tmp_path / "cmp" / "comparison.csv") as f:
        rows = {row["preset"]: row for row in csv.DictReader(f)}
    assert "diff final reward" not in rows["sea:3"]
    assert float(rows["sea:3"]["diff final win rate ci_low"]) == pytest.approx(0.062, abs=5e-4)
    assert float(rows["sea:3"]["query saving"]) > 1 and rows["sea:3"]["query saving is upper bound"] == "false"
    assert rows["xpo"]["query saving is upper bound"] == "true" and rows["xpo"]["query saving never reached"] == "6"
    assert rows["online-dpo"]["baseline"] == "online-dpo" and rows["online-dpo"]["diff final win rate"] == ""


def test_arms_of_one_preset_with_their_own_settings_are_compared_by_label(tmp_path, capsys):
    # Two arms of the preset sea:2 (summary.json says sea:2 for both) differ only in an explorer
    # setting: grouped by their labels, not their preset, and paired against the baseline arm.
    runs = tmp_path / "runs"
    for s in range(2):
        make_run(runs, "online-dpo", s, curve(0.8), name=f"passive-s{s}")
        make_run(runs, "sea:2", s, curve(0.9), name=f"ts-s{s}")
        make_run(runs, "sea:2", s, curve(0.85), name=f"ids-s{s}")
    code = main(["compare", "--arm", "passive=online-dpo", "--arm", "ts=sea:2", "--arm", "ids=sea:2 --explorer ids",
                 "--seeds", "2", "--jobs", "1", "--baseline", "passive", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    md = (tmp_path / "comparison.md").read_text()
    assert "## Against the baseline `passive`" in md
    assert "| ts | 2 | +0.100 [+0.100, +0.100] |" in md and "| ids | 2 | +0.050 [+0.050, +0.050] |" in md


def test_an_arm_runs_with_its_own_settings_after_the_shared_ones():
    arm = compare.parse_arm("m8 = sea:2 --num-candidates 8 --explore-heads '5'")
    assert arm == compare.Arm("m8", "sea:2", ("--num-candidates", "8", "--explore-heads", "5"))
    cmd = compare.run_command(arm, 3, Path("out/runs"), "m8-s3")
    assert cmd[cmd.index("--preset") + 1:] == ["sea", "--seed", "3", "--variant", "2", "--out-dir", "out/runs",
                                                "--run-name", "m8-s3"]
    assert compare.preset_arm("sea") == compare.Arm("sea:3", "sea", run_prefix="sea")  # runs: sea-s0, ...


@pytest.mark.parametrize("args, message", [
    (["--arm", "no-equals-sign"], "expected LABEL=PRESET"),
    (["--arm", "bad label=sea"], "expected LABEL=PRESET"),
    (["--arm", "a=nosuchpreset"], "nosuchpreset"),
    (["--arm", "a=sea:x"], "must be a number"),
    (["--arm", "a=sea", "--arm", "a=online-dpo"], "share a label"),
    ([], "name what to compare"),
])
def test_bad_arms_are_one_line_errors_before_any_run(tmp_path, capsys, args, message):
    code = main(["compare", *args, "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "c").exists()


def test_auc_holds_each_value_of_a_collect_then_train_run_until_its_next_round():
    assert area_under_curve([0, 1536], [0.5, 0.837], hold=True) == 0.5  # offline: SFT deployed throughout
    assert area_under_curve([0, 1536], [0.5, 0.837]) == pytest.approx(0.6685)
    assert area_under_curve([0, 100, 200, 400], [0.5, 0.7, 0.9, 0.9], hold=True) == pytest.approx(
        (100 * 0.5 + 100 * 0.7 + 200 * 0.9) / 400)
