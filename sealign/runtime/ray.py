"""The Ray runtime: the same Actor, Oracle and Learner objects, each in its own Ray actor process.

    sealign run --runtime ray --actors 2 --oracles 2 [--staleness 1] [--ray-address auto]

Processes (all built from the run's config, so they hold identical copies of everything):

- ``--actors N`` actor workers, each an ``Actor`` over its own copy of the policy (and, with
  ``reference_candidates``, a frozen copy of its initial weights that XPO's reference samples come
  from, as the local actor's come from the learner's initial reference). A batch of
  prompts is split into N contiguous shards; the sampling seed of a prompt depends on its row in
  the whole batch (``Actor.sample(first_row=...)``), so any N samples the very same texts.
- ``--oracles K`` oracle workers; a batch of queries is split into K shards. Their answers must
  not depend on the order questions arrive in (the BT simulator hashes each question).
- one learner worker, a ``PreferenceLearner`` over the policy being trained.

The driver (this process) keeps the loop, the feedback log, the explorer and the evaluator, and a
copy of the policy for the last two.

Weights. After each update the learner returns its trainable weights (all, or only the LoRA
adapters) as one object in Ray's object store; every actor worker loads it from there, and so
does the driver's copy. That is a copy through shared memory on one machine and over the network
between machines: right for CPUs and small models. On GPUs, broadcast the weights over NCCL
instead (a ``torch.distributed`` group spanning the learner and the actors, the learner calling
``broadcast`` for each tensor) so that they go GPU to GPU; see docs/scale.md.

Staleness. With ``--staleness 0`` each batch is sampled after the previous update reached the
actors: the answers log is exactly the local runtime's for the same seed. With ``--staleness S``
the actors sample up to S batches ahead, with weights up to S updates old, so sampling batch t+1
overlaps the oracle and the learner's step on batch t.

Faults. Actor and oracle workers hold nothing that cannot be rebuilt: Ray restarts one that dies
(its process killed, its node lost) and runs the call it was in again, up to ``CALL_RETRIES``
times. Every sampling call carries the version of the weights it must sample with (a reference in
the object store), and a worker that holds another version, a restarted one included, loads them
first; sampling is a function of (seed, step, row) and the oracle's answers of the question, so the
redone call returns what the first would have. The learner's weights and optimiser live only in its
process: when it dies, or a worker dies on the same call past its retries, the run stops with one
line, and ``sealign run --resume`` restores the last checkpoint and replays the answers logged
since (the feedback log is written before any answer is used), exactly as after a crash.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from sealign.oracles.base import Oracle, Verdict, check_lengths
from sealign.records.types import Candidate, Prompt
from sealign.runtime.ray_calls import connect, fault_options, fetch, import_ray, shard_bounds
from sealign.runtime.ray_workers import INITIAL_WEIGHTS, ActorWorker, LearnerWorker, OracleWorker, Weights
from sealign.runtime.settings import RuntimeSettings

# ---------------------------------------------------------------------------------- proxies
# What the loop holds: the same methods as the local parts, each a remote call underneath.

@dataclass
class _Prefetch:
    prompts: list[Prompt]
    futures: list


class RayActorPool:
    """``ActorHandle`` over N actor workers (see the module docstring for shards, staleness and faults)."""

    def __init__(self, handles: list, driver_policy, prompt_order, staleness: int, run_dir: Path | None = None):
        self.handles = handles
        self.driver_policy = driver_policy
        self.prompt_order = prompt_order
        self.staleness = staleness
        self.run_dir = run_dir
        self.ahead: dict[int, _Prefetch] = {}
        self.weights: Weights = INITIAL_WEIGHTS  # what the next sampling call samples with
        self.loading: list = []  # the weight loads sent to the workers by the last sync

    def _launch(self, prompts: list[Prompt], step: int, stream: int = 0) -> list:
        return [self.handles[k].sample.remote(prompts[lo:hi], step, lo, stream, self.weights)
                for k, (lo, hi) in enumerate(shard_bounds(len(prompts), len(self.handles)))]

    def _fetch(self, futures: list) -> list[list[Candidate]]:
        return [group for shard in fetch(futures, "actor worker", self.run_dir) for group in shard]

    def sample(self, prompts: list[Prompt], step: int, stream: int = 0) -> list[list[Candidate]]:
        if stream:  # a step's extra batch, sampled from the latest weights: no prefetch bookkeeping
            return self._fetch(self._launch(prompts, step, stream))
        ready = self.ahead.pop(step, None)
        for old in [s for s in self.ahead if s < step]:
            del self.ahead[old]
        if ready is not None and ready.prompts[: len(prompts)] == prompts:
            futures = ready.futures  # sampled ahead; a prompt's samples do not depend on the batch's tail
        else:
            futures = self._launch(prompts, step)
        for later in range(step + 1, step + 1 + self.staleness):  # queued before the next weights arrive
            if later not in self.ahead:
                batch = self.prompt_order.batch(later)
                self.ahead[later] = _Prefetch(batch, self._launch(batch, later))
        candidates = self._fetch(futures)
        self._settle_loads()
        return candidates[: len(prompts)]

    def sync_weights(self, learner) -> None:
        ref = learner.publish()  # an object-store reference: fetched by each worker, copied once
        self.weights = (self.weights[0] + 1, [ref])
        # Sent now, so that the workers load while the driver goes on; runs after each worker's earlier
        # calls (Ray keeps their order). A worker that dies meanwhile loads them with its next call.
        self._settle_loads()
        self.loading = [handle.load_weights.remote(*self.weights) for handle in self.handles]
        self.driver_policy.load_trainable_state(learner.resolve(ref))

    def _settle_loads(self) -> None:
        """Collect the finished weight loads: one that failed with its worker is redone by that worker's
        next sampling call, which carries the weights (and an error left unread would be logged)."""
        ray = import_ray()
        for ref in self.loading:
            with contextlib.suppress(ray.exceptions.RayError):
                ray.get(ref)
        self.loading = []


class RayOracles:
    """``Oracle`` over K oracle workers; a batch of queries is split between them."""

    def __init__(self, handles: list, run_dir: Path | None = None):
        self.handles = handles
        self.run_dir = run_dir
        self.name = fetch(handles[0].name.remote(), "oracle worker", run_dir)

    def _launch(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None) -> list:
        return [self.handles[k].compare.remote(prompts[lo:hi], responses_a[lo:hi], responses_b[lo:hi],
                                               None if keys is None else keys[lo:hi])
                for k, (lo, hi) in enumerate(shard_bounds(len(prompts), len(self.handles)))]

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        check_lengths(prompts, responses_a, responses_b)
        futures = self._launch(prompts, responses_a, responses_b, keys)
        return [v for shard in fetch(futures, "oracle worker", self.run_dir) for v in shard]


class RayLearner:
    """The learner's methods, run by the learner worker. Its state is not rebuilt after a death: a
    call to a dead learner stops the run with one line (``WorkerLost``) that names ``--resume``."""

    def __init__(self, handle, run_dir: Path | None = None):
        self.handle = handle
        self.run_dir = run_dir

    def resolve(self, ref):
        """Fetch a result of the learner worker (``publish``'s weights)."""
        return fetch(ref, "learner worker", self.run_dir)

    def step(self, batch) -> dict:
        return self.resolve(self.handle.step.remote(batch))

    def publish(self):
        """A reference to the current trainable weights in the object store (not fetched here)."""
        return self.handle.weights.remote()

    def train_epochs(self, data, epochs: int, batch_size: int, seed: int, on_step=None) -> None:
        for epoch, k, metrics in self.resolve(self.handle.train_epochs.remote(data, epochs, batch_size, seed)):
            if on_step:  # replayed after the fact: the callback lives in this process
                on_step(epoch, k, metrics)

    def save(self, path, extra: dict | None = None) -> None:
        self.resolve(self.handle.call.remote("save", path, extra))

    def __getattr__(self, method: str):
        if method.startswith("_") or method in ("handle", "run_dir"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self.resolve(self.handle.call.remote(method, *args, **kwargs))


# ---------------------------------------------------------------------------------- runtime
class RayRuntime:
    """Starts (or attaches to) the cluster and the workers; hands the loop the proxies. It reads its own
    group (``RuntimeSettings``) and hands the run's whole config on to the workers, which build their
    parts from it as the local runtime does."""

    def __init__(self, config):
        self.config = config
        self.settings: RuntimeSettings = config.part(RuntimeSettings)
        self.run_dir = config.run_dir
        self.ray = connect(self.settings)
        # A GPU per learner and actor worker when the cluster has GPUs and the run may use them.
        has_gpus = self.ray.cluster_resources().get("GPU", 0) > 0
        self.gpus = 1 if config.device.startswith("cuda") or (config.device == "auto" and has_gpus) else 0

    def _remote(self, cls, gpus: int = 0, restart: bool = True):
        # num_cpus=0: the workers take turns on the cores (overlap is the point), so Ray must not
        # refuse to place N + K + 1 of them on a 2-CPU machine.
        return self.ray.remote(num_cpus=0, num_gpus=gpus, **fault_options(restart))(cls)

    def oracle(self) -> Oracle:
        remote = self._remote(OracleWorker)
        oracle: Oracle = RayOracles([remote.remote(self.config) for _ in range(self.settings.oracles)], self.run_dir)
        if self.config.oracle_max_cost > 0:
            from sealign.oracles.budget import CostBudget

            oracle = CostBudget(oracle, self.config.oracle_max_cost)
        return oracle

    def learner(self, policy, policy_path: str) -> RayLearner:
        handle = self._remote(LearnerWorker, self.gpus, restart=False).remote(self.config, policy_path)
        learner = RayLearner(handle, self.run_dir)
        learner.resolve(handle.ready.remote())  # surface a load error here, not at the first step
        return learner

    def actor(self, policy, policy_path: str, prompt_order) -> RayActorPool:
        remote = self._remote(ActorWorker, self.gpus)
        handles = [remote.remote(self.config, policy_path) for _ in range(self.settings.actors)]
        fetch([h.ready.remote() for h in handles], "actor worker", self.run_dir)
        return RayActorPool(handles, policy, prompt_order, self.settings.staleness, self.run_dir)
