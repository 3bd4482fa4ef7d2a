"""Faults at scale: on a two-node local Ray cluster, actor and oracle worker processes are killed
(SIGKILL) and a node is removed while their calls are in flight; Ray restarts them and the calls are
redone, and the run writes exactly the log of a run that never failed. A killed learner stops the
run with one line, and `--resume` continues it exactly. No answer is lost or stored twice."""

from __future__ import annotations

import json
import os
import signal

import pytest

from sealign.cli import main
from sealign.config import RunConfig
from sealign.records.feedback_log import FeedbackLog
from sealign.run.loop import run
from sealign.runtime import ray as ray_runtime
from sealign.runtime import ray_calls, ray_workers
from tests.conftest import TEST_SFT_STEPS

pytestmark = pytest.mark.slow

BATCH, STEPS = 16, 4


@pytest.fixture(scope="module")
def cluster():
    """A head node and a worker node, one CPU each, the test process connected as the driver. The
    resources only say where the workers go (the test's placement): the learner on the head, the
    actor and oracle workers on a "workers" node."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # another module's local cluster
        ray.shutdown()
    cluster = Cluster(initialize_head=True, connect=True,
                      head_node_args=dict(num_cpus=1, include_dashboard=False, resources={"learner": 1}))
    cluster.add_node(num_cpus=1, resources={"workers": 100})
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def settings(tmp_path, sft_cache, name: str) -> dict:
    return dict(out_dir=str(tmp_path), run_name=name, cache_dir=str(sft_cache), sft_steps=TEST_SFT_STEPS,
                budget=STEPS * BATCH, batch_size=BATCH, eval_every=2, save_every=2, num_eval_prompts=16,
                threads=1, lr=RunConfig.lr)  # named: the CLI's online-dpo would take its built-in tuned rate


def cli_flags(values: dict) -> list[str]:
    return [part for key, value in values.items() for part in (f"--{key.replace('_', '-')}", str(value))]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, sft_cache):
    """The run that never failed, in one process (a Ray run of the same seed writes the same log:
    tests/e2e/test_runtime_ray.py)."""
    out = tmp_path_factory.mktemp("reference")
    summary = run(RunConfig(**settings(out, sft_cache, "reference")), log=lambda _: None)
    return log_rows(out / "reference", "reference"), summary["curve"]


def log_rows(run_dir, name) -> list[tuple]:
    with FeedbackLog(run_dir / "feedback.sqlite", name) as log:
        return [(c.id, c.step, c.prompt.text, c.winner, c.prob_a, c.a.text, c.b.text, c.a.token_ids,
                 c.b.token_ids) for c in log.read()]


def assert_no_answer_lost_or_twice(rows, reference_rows) -> None:
    assert len(rows) == STEPS * BATCH  # the budget, every query answered once
    assert len({r[0] for r in rows}) == len(rows)  # no answer stored twice
    assert len({(r[1], r[2]) for r in rows}) == len(rows)  # no question asked twice
    assert [r[1:] for r in rows] == [r[1:] for r in reference_rows]  # the same questions and answers


def where(ray, handle) -> tuple[int, str]:
    return ray.get(handle.process.remote())


def test_killed_actor_and_oracle_workers_and_a_lost_node_are_redone_exactly(tmp_path, sft_cache, cluster,
                                                                              reference, monkeypatch):
    ray = pytest.importorskip("ray")
    remote = ray_runtime.RayRuntime._remote

    def placed(self, cls, gpus=0, restart=True):
        node = {"learner": 1} if cls is ray_workers.LearnerWorker else {"workers": 1}
        return remote(self, cls, gpus, restart).options(resources=node)

    monkeypatch.setattr(ray_runtime.RayRuntime, "_remote", placed)
    worker = next(iter(cluster.worker_nodes)).node_id
    replacement: list[str] = []

    # Each fault strikes right after a step's calls were sent, so the worker dies with its call in flight
    # (where a worker runs is asked before: a worker runs one call at a time).
    faults = {("sample", 1): "kill worker 0", ("ask", 2): "kill worker 1", ("sample", 3): "lose the worker node"}
    pools: dict[str, object] = {}  # "sample": the actor pool, "ask": the oracles
    before: dict[tuple[str, int], tuple[int, str]] = {}  # (kind, worker) -> (pid, node) before it died

    def in_flight(kind: str, step: int, launch) -> list:
        fault = faults.pop((kind, step), None)
        if fault is None:
            return launch()
        now = {(name, k): where(ray, handle) for name, pool in pools.items() for k, handle in enumerate(pool.handles)}
        assert {node for _, node in now.values()} == {worker}
        futures = launch()
        if fault == "lose the worker node":
            cluster.remove_node(next(iter(cluster.worker_nodes)))  # every worker process of the node dies with it
            # as an autoscaler would: a new node takes its place, and the workers restart there
            replacement.append(cluster.add_node(num_cpus=1, resources={"workers": 100}).node_id)
            dead = list(now)
        else:
            dead = [(kind, int(fault.split()[-1]))]
            os.kill(now[dead[0]][0], signal.SIGKILL)
        for key in dead:
            before.setdefault(key, now[key])
        return futures

    launch_samples, launch_questions = ray_runtime.RayActorPool._launch, ray_runtime.RayOracles._launch

    def sampling(self, prompts, step, stream=0):
        pools["sample"] = self
        return in_flight("sample", step, lambda: launch_samples(self, prompts, step, stream))

    def asking(self, prompts, responses_a, responses_b, keys):
        pools["ask"] = self
        step = int(keys[0].split(":")[0])  # the loop's keys are "step:row"
        return in_flight("ask", step, lambda: launch_questions(self, prompts, responses_a, responses_b, keys))

    monkeypatch.setattr(ray_runtime.RayActorPool, "_launch", sampling)
    monkeypatch.setattr(ray_runtime.RayOracles, "_launch", asking)
    summary = run(RunConfig(**settings(tmp_path, sft_cache, "faults"), runtime="ray", actors=2, oracles=2),
                  log=lambda _: None)

    assert summary["queries"] == STEPS * BATCH
    reference_rows, reference_curve = reference
    assert_no_answer_lost_or_twice(log_rows(tmp_path / "faults", "faults"), reference_rows)
    assert summary["curve"] == reference_curve  # the same weights at every evaluation
    assert not faults  # every fault struck
    # Every worker that died was really restarted: a new process, on the new node once the first was gone.
    assert len(before) == 4
    for (kind, k), (pid, _) in before.items():
        now_pid, now_node = where(ray, pools[kind].handles[k])
        assert now_pid != pid and now_node == replacement[0], (kind, k)


def test_a_killed_learner_stops_the_run_in_one_line_and_resume_continues_it_exactly(tmp_path, sft_cache, cluster,
                                                                                    reference, capsys, monkeypatch):
    ray = pytest.importorskip("ray")
    step = ray_runtime.RayLearner.step
    calls = []

    def learning(self, batch):
        calls.append(True)
        if len(calls) == 3:  # the learner's process killed as it is handed batch 2 (checkpointed after batch 1)
            os.kill(where(ray, self.handle)[0], signal.SIGKILL)
        return step(self, batch)

    monkeypatch.setattr(ray_runtime.RayLearner, "step", learning)
    flags = cli_flags({**settings(tmp_path, sft_cache, "learner"), "runtime": "ray", "actors": 1, "oracles": 1})
    assert main(["run", *flags]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    run_dir = tmp_path / "learner"
    assert len(errors) == 1 and "learner worker died" in errors[0], errors
    assert errors[0].endswith(f"continue the run with `sealign run --resume {run_dir}`")
    # Batch 2's answers were logged before the learner was handed them: none lost.
    reference_rows, reference_curve = reference
    logged = log_rows(run_dir, "learner")
    assert [r[1:] for r in logged] == [r[1:] for r in reference_rows[: 3 * BATCH]]

    monkeypatch.setattr(ray_runtime.RayLearner, "step", step)
    assert main(["run", "--resume", str(run_dir)]) == 0  # batch 2 replayed from the log, batch 3 asked
    rows = log_rows(run_dir, "learner")
    assert rows[: len(logged)] == logged  # the answers logged before the stop, kept as they were
    assert_no_answer_lost_or_twice(rows, reference_rows)
    curve = json.loads((run_dir / "summary.json").read_text())["curve"]
    assert [tuple(point) for point in curve] == [tuple(point) for point in reference_curve]


def test_a_worker_that_dies_in_every_try_of_a_call_stops_the_run_in_one_line(tmp_path, cluster):
    ray = pytest.importorskip("ray")

    class Doomed:  # a worker whose call kills its process every time (too little memory, say)
        def __init__(self, tries):
            self.tries = tries

        def call(self):
            with open(self.tries, "a") as f:
                f.write("try\n")
            os._exit(1)

    tries = tmp_path / "tries"
    doomed = ray.remote(num_cpus=0, **ray_calls.fault_options(restart=True))(Doomed).remote(str(tries))
    (tmp_path / "config.yaml").write_text("")
    with pytest.raises(ray_calls.WorkerLost, match="actor worker died") as stop:
        ray_calls.fetch(doomed.call.remote(), "actor worker", tmp_path)
    assert "\n" not in str(stop.value) and str(stop.value).endswith(f"`sealign run --resume {tmp_path}`")
    assert tries.read_text().count("try") == 1 + ray_calls.CALL_RETRIES  # restarted and redone, then given up
    ray.kill(doomed)
