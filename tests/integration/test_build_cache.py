"""The cached builds (the built-in SFT policy, converted models): parallel runs on a cold cache build
once, and a build killed half-way leaves nothing behind for the next one."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from sealign.cache import build_once
from sealign.policy import builtin
from sealign.policy.builtin import BootstrapSpec, ensure_sft_policy

fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")


def counting_build(builds_file):
    """A stand-in for the SFT training: slow enough for a second process to arrive mid-build."""

    def build(folder, spec=None):
        with open(builds_file, "a") as out:
            out.write(f"{os.getpid()}\n")
        time.sleep(1.0)
        (folder / "config.json").write_text("{}")

    return build


def build_after(barrier, cache, results):
    barrier.wait()  # both processes start on the cold cache at once
    path = ensure_sft_policy(cache, BootstrapSpec(sft_steps=1), log=lambda _: None)
    results.put(str(path) if (path / "config.json").exists() else "missing")


@fork
def test_parallel_runs_on_a_cold_cache_build_the_sft_policy_once(tmp_path, monkeypatch):
    builds = tmp_path / "builds.txt"
    monkeypatch.setattr(builtin, "build_sft_policy", counting_build(builds))  # inherited by the forked runs
    cache = tmp_path / "cache"
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(2), context.Queue()
    runs = [context.Process(target=build_after, args=(barrier, cache, results)) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=60)
    assert [run.exitcode for run in runs] == [0, 0]
    target = cache / BootstrapSpec(sft_steps=1).cache_key
    assert [results.get(timeout=5) for _ in runs] == [str(target)] * 2  # the waiting run loaded the first's
    assert len(builds.read_text().splitlines()) == 1
    assert [p.name for p in cache.iterdir() if p.is_dir()] == [target.name]


def build_until_killed(target, started):
    def build(folder):
        (folder / "model.safetensors").write_text("half a model")
        started.set()
        time.sleep(60)

    build_once(target, build, "a slow model", log=lambda _: None)


@fork
def test_a_build_killed_half_way_leaves_no_scratch_folder_after_the_next_build(tmp_path):
    target = tmp_path / "cache" / "model-v1"
    context = multiprocessing.get_context("fork")
    started = context.Event()
    killed = context.Process(target=build_until_killed, args=(target, started))
    killed.start()
    assert started.wait(timeout=30)
    os.kill(killed.pid, signal.SIGKILL)  # no finally block runs: its scratch folder stays
    killed.join(timeout=10)
    assert any(p.name != target.name for p in target.parent.iterdir() if p.is_dir())

    built = []
    result = build_once(target, lambda folder: built.append(1) or (folder / "config.json").write_text("{}"),
                        "a slow model", log=lambda _: None)  # the dead holder's lock is free at once
    assert result == target and built == [1] and (target / "config.json").exists()
    assert [p.name for p in target.parent.iterdir() if p.is_dir()] == [target.name]


def test_a_failed_build_leaves_nothing_and_the_next_one_builds(tmp_path):
    target = tmp_path / "model-v1"

    def broken(folder):
        (folder / "config.json").write_text("{}")
        raise RuntimeError("out of disk")

    with pytest.raises(RuntimeError):
        build_once(target, broken, "a model", log=lambda _: None)
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []
    build_once(target, lambda folder: (folder / "config.json").write_text("{}"), "a model", log=lambda _: None)
    assert (target / "config.json").exists()
