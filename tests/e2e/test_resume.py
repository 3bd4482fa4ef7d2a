"""Crash and resume: kill -9 a real `sealign run` at 20 seeded points, resume each time, and check
that no answer is lost, none is asked twice, and the run ends exactly as an uninterrupted one."""

import json
import os
import random
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import TEST_SFT_STEPS

pytestmark = pytest.mark.slow

STEPS, BATCH, EVAL_EVERY, SAVE_EVERY = 24, 4, 2, 3
KILLS = 20


def settings(out_dir, cache, name, steps=STEPS):
    return ["--out-dir", str(out_dir), "--run-name", name, "--cache-dir", str(cache),
            "--sft-steps", str(TEST_SFT_STEPS), "--budget", str(steps * BATCH), "--batch-size", str(BATCH),
            "--eval-every", str(EVAL_EVERY), "--save-every", str(SAVE_EVERY), "--num-eval-prompts", "16",
            "--threads", "1"]


def sealign(args, fault=None):
    env = {**os.environ, "SEALIGN_FAULT": fault or ""}
    return subprocess.run([sys.executable, "-m", "sealign.cli", "run", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def log_rows(run_dir):
    db = sqlite3.connect(run_dir / "feedback.sqlite")
    rows = db.execute("SELECT id, step, prompt_id, response_a, response_b, winner FROM comparisons "
                      "ORDER BY seq").fetchall()
    db.close()
    return rows


def kill_points(rng: random.Random) -> list[str]:
    """KILLS points at strictly increasing loop steps, each in a phase that step reaches."""
    points = []
    for step in sorted(rng.sample(range(STEPS - 1), KILLS)):
        phases = ["generated", "answered", "logged", "learned"]
        if (step + 1) % SAVE_EVERY == 0:
            phases.append("checkpoint")  # dies after the temp file is written, before the rename
        if (step + 1) % EVAL_EVERY == 0:
            phases.append("evaluated")
        phase = rng.choice(phases)
        # The checkpoint fault is keyed by the learner's step count, one past the loop step.
        points.append(f"{phase}@{step + 1 if phase == 'checkpoint' else step}")
    return points


def test_kill_nine_at_twenty_points_loses_nothing_and_resumes_exactly(tmp_path, sft_cache):
    reference = sealign(settings(tmp_path, sft_cache, "reference"))
    assert reference.returncode == 0, reference.stderr

    run_dir = tmp_path / "crashed"
    seen_ids: set[str] = set()
    points = kill_points(random.Random(1234))
    for k, point in enumerate(points):
        args = settings(tmp_path, sft_cache, "crashed") if k == 0 else ["--resume", str(run_dir)]
        result = sealign(args, fault=point)
        assert result.returncode == -9, f"{point}: expected a kill, got {result.returncode}\n{result.stderr}"
        if (run_dir / "feedback.sqlite").exists():
            ids = {row[0] for row in log_rows(run_dir)}
            assert seen_ids <= ids, f"answers lost after the kill at {point}"
            seen_ids = ids
    final = sealign(["--resume", str(run_dir)])
    assert final.returncode == 0, final.stderr

    rows = log_rows(run_dir)
    assert len(rows) == STEPS * BATCH
    assert len({row[0] for row in rows}) == len(rows)  # no answer logged twice
    assert len({(row[1], row[2]) for row in rows}) == len(rows)  # no question asked twice
    assert seen_ids <= {row[0] for row in rows}
    # Exactly the questions and answers of the run that was never killed, and the same result.
    strip_ids = lambda rs: [row[1:] for row in rs]  # noqa: E731
    assert strip_ids(rows) == strip_ids(log_rows(tmp_path / "reference"))
    crashed = json.loads((run_dir / "summary.json").read_text())
    clean = json.loads((tmp_path / "reference" / "summary.json").read_text())
    assert crashed["curve"] == clean["curve"]
    assert not list(run_dir.glob("checkpoints/*.tmp"))


def test_resume_refuses_what_it_cannot_continue(tmp_path, capsys):
    from sealign.cli import main

    assert main(["run", "--resume", str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path), "--beta", "0.2"]) == 2
    assert "--resume takes exactly one run directory" in capsys.readouterr().err


def test_ees_query_free_batches_are_redone_exactly_after_a_kill(tmp_path, sft_cache):
    """Asghari et al.'s query-free batch is not logged: a resumed run replays the step's logged labels,
    then samples and learns the query-free batch again, and must end where a clean run ends."""
    short = lambda name: [*settings(tmp_path, sft_cache, name, steps=8),  # noqa: E731
                          "--preset", "ees", "--num-candidates", "4", "--explore-heads", "4"]
    reference = sealign(short("reference"))
    assert reference.returncode == 0, reference.stderr
    run_dir = tmp_path / "crashed"
    for k, point in enumerate(["logged@1", "learned@4"]):
        result = sealign(short("crashed") if k == 0 else ["--resume", str(run_dir)], fault=point)
        assert result.returncode == -9, f"{point}: expected a kill, got {result.returncode}\n{result.stderr}"
    final = sealign(["--resume", str(run_dir)])
    assert final.returncode == 0, final.stderr
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum("query_free/loss" in m for m in metrics) == 8  # one query-free update per step
    strip_ids = lambda rs: [row[1:] for row in rs]  # noqa: E731
    assert strip_ids(log_rows(run_dir)) == strip_ids(log_rows(tmp_path / "reference"))
    crashed = json.loads((run_dir / "summary.json").read_text())
    clean = json.loads((tmp_path / "reference" / "summary.json").read_text())
    assert crashed["curve"] == clean["curve"]


def test_xpo_replayed_answers_keep_their_reference_samples(tmp_path, sft_cache):
    """XPO's bonus sits on each answer's queried reference sample (``Candidate.source``), which the log
    does not keep: a resumed run marks the replayed answers' b again (``collect.Replay``) and must learn
    as a clean run does, not from reference samples the learner draws itself."""
    short = lambda name: [*settings(tmp_path, sft_cache, name, steps=6), "--preset", "xpo"]  # noqa: E731
    reference = sealign(short("reference"))
    assert reference.returncode == 0, reference.stderr
    run_dir = tmp_path / "crashed"
    killed = sealign(short("crashed"), fault="logged@4")  # a checkpoint after step 2; steps 3 and 4 replayed
    assert killed.returncode == -9, killed.stderr
    final = sealign(["--resume", str(run_dir)])
    assert final.returncode == 0, final.stderr
    learned = lambda run: [(m["loss"], m["logps/ref_sample"]) for m in map(  # noqa: E731
        json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in m]
    assert len(learned(run_dir)) == 6 and learned(run_dir) == learned(tmp_path / "reference")
    strip_ids = lambda rs: [row[1:] for row in rs]  # noqa: E731
    assert strip_ids(log_rows(run_dir)) == strip_ids(log_rows(tmp_path / "reference"))
