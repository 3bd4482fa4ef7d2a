"""The default runtime: every part in this process, sharing one policy object."""

from __future__ import annotations

from sealign.exploration.settings import ExplorationSettings
from sealign.learning.learner import PreferenceLearner
from sealign.oracles import Oracle, build_oracle
from sealign.policy import backends
from sealign.policy.base import Policy, TrainablePolicy
from sealign.records.types import Candidate, Prompt
from sealign.run.actor import Actor
from sealign.run.sampling_settings import SamplingSettings


class LocalActor:
    """The in-process actor. With the hf backend it samples from the learner's own policy object,
    so there is nothing to sync; a separate generation engine (vLLM) is handed the new weights."""

    def __init__(self, actor: Actor, policy: Policy):
        self.actor = actor
        self.policy = policy

    def sample(self, prompts: list[Prompt], step: int, stream: int = 0) -> list[list[Candidate]]:
        return self.actor.sample(prompts, step, stream=stream)

    def sync_weights(self, learner) -> None:
        if self.actor.policy is not self.policy:
            self.actor.policy.load_trainable_state(self.policy.trainable_state())


def generation_policy(config, policy: TrainablePolicy, policy_path: str) -> Policy:
    """The policy the actor samples from: ``policy`` itself, or the backend's engine over its weights."""
    return backends.generation_policy(config.policy_backend, policy, policy_path, config)


def make_actor(settings: SamplingSettings, policy: Policy, seed: int, feature_pooling: str | None = None) -> Actor:
    """The actor over ``policy``; with ``reference_candidates`` (XPO) they are sampled from its frozen
    initial copy (``HFPolicy.frozen_copy``: in this process the very network the learner's reference
    starts as, in a Ray actor worker its own copy of the same weights). ``feature_pooling``: the live
    features' pooling when the explorer embeds with the policy's own sampling pass
    (``ExplorationSettings.live_pooling``), else None."""
    reference = policy.frozen_copy() if settings.reference_candidates else None
    return Actor(policy, settings.num_candidates, settings.temperature, settings.top_p, settings.max_new_tokens,
                 seed, settings.second_temperature, settings.reference_candidates, reference,
                 feature_pooling=feature_pooling)


def actor_of(config, policy: Policy) -> Actor:
    """``make_actor`` from the run's config: its sampling group, its seed and the explorer's live pooling."""
    return make_actor(config.part(SamplingSettings), policy, config.seed,
                      config.part(ExplorationSettings).live_pooling())


class LocalRuntime:
    """Every part in this process. It is handed the run's whole config because it builds the parts it
    hosts (oracle, learner, actor), each from its own settings."""

    def __init__(self, config):
        self.config = config

    def oracle(self) -> Oracle:
        return build_oracle(self.config.oracle, self.config)

    def learner(self, policy: TrainablePolicy, policy_path: str) -> PreferenceLearner:
        return PreferenceLearner(policy, self.config)

    def actor(self, policy: TrainablePolicy, policy_path: str, prompt_order) -> LocalActor:
        return LocalActor(actor_of(self.config, generation_policy(self.config, policy, policy_path)), policy)
