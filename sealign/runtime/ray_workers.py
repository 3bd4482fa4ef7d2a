"""The Ray runtime's worker processes: an actor, an oracle and a learner worker, each building its part from
the run's config exactly as the local runtime does (see ``sealign/runtime/ray.py`` for the whole runtime)."""

from __future__ import annotations

import dataclasses

from sealign.oracles.base import Verdict
from sealign.records.types import Candidate, Prompt

# Plain classes, turned into Ray actors with ``ray.remote`` at run time (importing this module
# does not need Ray). Each builds its part from the config exactly as the local runtime does.

def _threads(config) -> None:
    import torch

    torch.set_num_threads(config.threads or 1)  # Ray gives each worker one thread unless told


class _Worker:
    def ready(self) -> bool:
        return True

    def process(self) -> tuple[int, str]:
        """(pid, Ray node id) of this worker's process: where it runs now (a restart moves it)."""
        import os

        import ray

        return os.getpid(), ray.get_runtime_context().get_node_id()


Weights = tuple[int, list]
"""(version, [object-store reference to a ``trainable_state()``]); version 0, ``[None]``: the policy as
loaded from its path. The reference travels inside a list so that Ray hands it over unfetched: a
worker that already holds that version does not copy the weights again."""

INITIAL_WEIGHTS: Weights = (0, [None])


class ActorWorker(_Worker):
    def __init__(self, config, policy_path: str):
        from sealign.policy import load_policy
        from sealign.runtime.local import actor_of, generation_policy

        _threads(config)
        self.policy = load_policy(config, policy_path)
        self.actor = actor_of(config, generation_policy(config, self.policy, policy_path))
        self.version = 0  # a restarted worker starts here again, with the policy as loaded

    def sample(self, prompts: list[Prompt], step: int, first_row: int, stream: int = 0,
               weights: Weights = INITIAL_WEIGHTS) -> list[list[Candidate]]:
        """The call carries the weights it samples with, so that it can be run again, as it was, on a
        restarted worker."""
        self.load_weights(*weights)
        return self.actor.sample(prompts, step, first_row, stream)

    def load_weights(self, version: int, state: list) -> None:
        if version != self.version and state[0] is not None:
            import ray

            self.actor.policy.load_trainable_state(ray.get(state[0]))
            self.version = version


class OracleWorker(_Worker):
    def __init__(self, config):
        from sealign.oracles import build_oracle

        _threads(config)
        # The cost cap is kept by the driver over all K workers (CostBudget around the proxy).
        self.oracle = build_oracle(config.oracle, dataclasses.replace(config, oracle_max_cost=0.0))

    def name(self) -> str:
        return self.oracle.name

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        return self.oracle.compare(prompts, responses_a, responses_b, keys=keys)


class LearnerWorker(_Worker):
    def __init__(self, config, policy_path: str):
        import torch

        from sealign.learning.learner import PreferenceLearner
        from sealign.policy import load_policy

        _threads(config)
        self.policy = load_policy(config, policy_path)
        torch.manual_seed(config.seed)  # as the local runtime does before building its learner
        self.learner = PreferenceLearner(self.policy, config)

    def step(self, batch) -> dict:
        return self.learner.step(batch)

    def weights(self) -> dict:
        return self.policy.trainable_state()

    def train_epochs(self, data, epochs: int, batch_size: int, seed: int) -> list[tuple[int, int, dict]]:
        records: list[tuple[int, int, dict]] = []
        self.learner.train_epochs(data, epochs, batch_size, seed,
                                  on_step=lambda epoch, k, m: records.append((epoch, k, m)))
        return records

    def call(self, method: str, *args, **kwargs):
        return getattr(self.learner, method)(*args, **kwargs)
