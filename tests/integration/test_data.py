"""Data sources in a real run on the tiny random policy: offline preferences trained on before the first
query (or alone, with no query), and prompts evaluated against their reference responses."""

from __future__ import annotations

import json

from sealign.cli import main
from sealign.records.tracking import read_metrics
from sealign.run.loop import run
from tests.conftest import tiny_run_config
from tests.unit.data.test_offline_data import TEXT_ROWS, write_jsonl  # skips this file without `datasets`, as there


def test_warm_start_trains_before_the_first_query_and_is_evaluated_at_zero_queries(tmp_path, tiny_policy_folder):
    config = tiny_run_config(tmp_path, tiny_policy_folder, run_name="warm", budget=16, offline_data="builtin",
                             offline_epochs=1)
    run(config, log=lambda _: None)
    records = read_metrics(tmp_path / "warm" / "metrics.jsonl")
    warm = [r for r in records if r.get("warm_start")]
    assert len(warm) == 64 // 8 and all(r["queries"] == 0 for r in warm)  # 64 prompts, batches of 8, one epoch
    evals = [r["queries"] for r in records if "eval/win_rate" in r]
    assert evals[:2] == [0, 0] and evals[-1] == 16  # the SFT policy, the warm-started one, then the queries


def test_offline_dpo_on_a_file_alone_spends_no_query(tmp_path, tiny_policy_folder, capsys):
    source = write_jsonl(tmp_path / "prefs.jsonl", TEXT_ROWS * 4)
    args = ["run", "--preset", "offline-dpo", "--offline-data", source, "--budget", "0", "--policy",
            str(tiny_policy_folder), "--out-dir", str(tmp_path), "--run-name", "file-only", "--num-train-prompts", "64",
            "--num-eval-prompts", "8", "--max-new-tokens", "8", "--batch-size", "8", "--threads", "1"]
    assert main(args) == 0
    summary = json.loads((tmp_path / "file-only" / "summary.json").read_text())
    assert summary["queries"] == 0
    assert any(r.get("warm_start") for r in read_metrics(tmp_path / "file-only" / "metrics.jsonl"))
    capsys.readouterr()


def shorter_wins(prompt: str, response: str) -> float:
    """A reward for the tests: the shorter response is better."""
    return -float(len(response))


def test_a_run_against_references_records_both_win_rates(tmp_path, tiny_policy):
    tiny_policy.save(tmp_path / "policy")
    rows = [{"prompt": f"post : we went hiking in oslo {i} . tl;dr :", "ref": "ok"} for i in range(12)]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["run", "--policy", str(tmp_path / "policy"), "--prompts", str(tmp_path / "p.jsonl"),
            "--reference-field", "ref", "--eval-against", "reference", "--reward-fn",
            "tests.integration.test_data:shorter_wins", "--out-dir", str(tmp_path / "runs"),
            "--run-name", "ref",
            "--budget", "4", "--batch-size", "2", "--num-eval-prompts", "4", "--max-new-tokens", "4",
            "--eval-every", "1", "--device", "cpu"]
    assert main(args) == 0
    run_dir = tmp_path / "runs" / "ref"
    evals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
             if "eval/win_rate" in line]
    assert evals and all("eval/win_rate_vs_reference" in r for r in evals)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [w for _, w in summary["curve"]] == [r["eval/win_rate_vs_reference"] for r in evals]
    assert (run_dir / "winrate.png").exists()
