"""--report-to in real runs on the tiny random policy: TensorBoard event files, an offline W&B run and a
trackio database hold what metrics.jsonl holds, the learner under TRL's names too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from sealign.records.tracking import read_metrics
from sealign.run.loop import run
from tests.conftest import ROOT, tiny_run_config


def test_tensorboard_holds_every_scalar_of_metrics_jsonl_and_the_summary(tmp_path, tiny_policy_folder):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny_run_config(tmp_path, tiny_policy_folder, run_name="tb", report_to="tensorboard")
    summary = run(config, log=lambda _: None)
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    records = read_metrics(tmp_path / "tb" / "metrics.jsonl")
    for name in ("eval/win_rate", "loss", "queries", "answers/skipped"):
        logged = [(r["step"], r[name]) for r in records if name in r]
        assert [(e.step, pytest.approx(e.value)) for e in events.Scalars(name)] == logged, name
    assert events.Scalars("summary/final_win_rate")[-1].value == pytest.approx(summary["final_win_rate"])
    assert "winrate" in tags["images"] and {"config", "summary"} <= {t.split("/")[0] for t in tags["tensors"]}


def test_wandb_offline_run_lands_in_the_run_directory(tmp_path, tiny_policy_folder, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = tiny_run_config(tmp_path, tiny_policy_folder, run_name="wb", report_to="wandb", budget=16)
    run(config, log=lambda _: None)
    offline = list((tmp_path / "wb" / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    assert list(offline[0].glob("run-*.wandb"))  # the transaction log `wandb sync` uploads
    expected = [r["eval/win_rate"] for r in read_metrics(tmp_path / "wb" / "metrics.jsonl") if "eval/win_rate" in r]
    log_file = next(offline[0].glob("run-*.wandb"))
    # W&B's service process may still be appending the run's last records when finish() returns
    # (seen on a loaded CI machine), so the log is read again until every evaluation is in it.
    deadline = time.monotonic() + 30
    while True:
        history = read_wandb_history(log_file)
        win_rates = [row["eval/win_rate"] for row in history if "eval/win_rate" in row]
        if len(win_rates) >= len(expected) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert win_rates == pytest.approx(expected)


def read_wandb_history(path) -> list[dict]:
    """The logged rows of an offline W&B transaction log (W&B ships no public reader for it).

    The file is a 7-byte header, then 32 KiB blocks of chunks (crc32 u32 of kind + payload, length
    u16, kind u8: 1 full, 2 first, 3 middle, 4 last), each record a `wandb_internal_pb2.Record`.
    Reading stops at a chunk not yet wholly written (its bytes short, or its checksum off)."""
    import json
    import struct
    import zlib

    from wandb.proto import wandb_internal_pb2

    data, pos, pending, rows = path.read_bytes(), 7, b"", []
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        checksum, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        payload = data[pos + 7:pos + 7 + length]
        if kind == 0 and length == 0:  # zero padding
            pos += 7
            continue
        if len(payload) < length or zlib.crc32(bytes([kind]) + payload) != checksum:
            break
        pending += payload
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                             for item in record.history.item})
    return rows


def test_tensorboard_shows_the_learner_under_trls_names_and_metrics_jsonl_keeps_its_own(tmp_path,
                                                                                       tiny_policy_folder):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(tiny_run_config(tmp_path, tiny_policy_folder, run_name="tb", report_to="tensorboard", budget=16),
        log=lambda _: None)
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    records = read_metrics(tmp_path / "tb" / "metrics.jsonl")
    margins = [(r["step"], r["rewards/margin"]) for r in records if "rewards/margin" in r]
    assert margins and [(e.step, pytest.approx(e.value)) for e in events.Scalars("train/rewards/margins")] == margins
    assert not any(name.startswith("train/") for r in records for name in r)  # metrics.jsonl as before


def test_a_run_reported_to_trackio_lands_in_its_local_database(tmp_path, tiny_policy_folder):
    pytest.importorskip("trackio")
    # A process of its own: trackio reads TRACKIO_DIR when imported, and the test must not write ~/.cache.
    script = f"""
import json
from sealign.run.loop import run
from tests.conftest import tiny_run_config
run(tiny_run_config({str(tmp_path)!r}, {str(tiny_policy_folder)!r}, run_name="trk", report_to="trackio",
                    budget=16), log=lambda _: None)
from trackio.sqlite_storage import SQLiteStorage
print("LOGS" + json.dumps(SQLiteStorage.get_logs("sealign-test", "trk"), default=str))
"""
    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio"), "TRACKIO_PROJECT": "sealign-test"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    logs = json.loads(done.stdout.split("LOGS", 1)[1].splitlines()[0])
    records = read_metrics(tmp_path / "trk" / "metrics.jsonl")
    expected = [r["eval/win_rate"] for r in records if "eval/win_rate" in r]
    assert [row["eval/win_rate"] for row in logs if "eval/win_rate" in row] == pytest.approx(expected)
    assert any("train/rewards/margins" in row for row in logs)
    assert any("summary/final_win_rate" in row for row in logs)
    assert (tmp_path / "trackio" / "sealign-test.db").is_file()
