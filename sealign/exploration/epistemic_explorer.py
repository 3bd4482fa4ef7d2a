"""Shared machinery of the ensemble-driven explorers: features -> reward samples -> a pair rule.

An explorer such as ``sea-ee`` is this class plus its pure rule ``select_pair(rewards, rng)``; the
rule sees only the ``[K, M]`` reward samples of one prompt's candidates, so the same function is
unit-tested on hand-made tensors and reused unchanged by the dueling-bandit testbed.
"""

from __future__ import annotations

import numpy as np
import torch

from sealign.errors import ConfigError
from sealign.exploration.base import Pair, Query, queries_of
from sealign.exploration.epistemic import EnsembleRewardModel
from sealign.exploration.epistemic_reward import EpistemicRewardModel
from sealign.exploration.features import build_features
from sealign.exploration.rules import PairRule
from sealign.exploration.settings import ExplorationSettings, ensemble_checks
from sealign.records.types import Candidate, Comparison


class EpistemicExplorer:
    """Scores every candidate with each head of ``reward_model`` and lets ``rule`` pick the pair per prompt.

    ``update`` adds the answered comparisons to the reward model and refits it.
    """

    def __init__(self, reward_model: EpistemicRewardModel, rule: PairRule):
        self.reward_model, self.rule = reward_model, rule
        self._selected_std: list[float] = []

    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[list[Query]]:
        self.reward_model.new_step()
        flat = [c for group in candidates for c in group]
        rewards = self.reward_model.head_scores(flat) if flat else torch.empty(0, 0)  # [K, sum M]
        pairs: list[Pair | None] = []
        start = 0
        for group in candidates:
            group_rewards = rewards[:, start: start + len(group)]
            start += len(group)
            pair = self.rule(group_rewards, rng) if len(group) >= 2 else None
            pairs.append(pair)
            if pair is not None:  # spread over heads of the queried margin (offsets cancel in it)
                margin = group_rewards[:, pair[0]] - group_rewards[:, pair[1]]
                self._selected_std.append(float(margin.std(correction=0)))
        return queries_of(candidates, pairs)

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        if not comparisons:
            return {}
        metrics = {f"explore/{k}": v for k, v in self.reward_model.learn(comparisons).items()}
        if self._selected_std:
            metrics["explore/pair_margin_std"] = float(np.mean(self._selected_std))
            self._selected_std.clear()
        return metrics

    def state_dict(self) -> dict:
        """The ensemble's state, for the loop's checkpoints (features are frozen: nothing to save)."""
        return {"model": self.reward_model.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.reward_model.model.load_state_dict(state["model"])


def ensemble_from_config(settings: ExplorationSettings, feature_dim: int, device="cpu", *,
                         seed: int) -> EnsembleRewardModel:
    """The epistemic ensemble of ``settings`` (the explore_* fields), its heads initialised from ``seed``."""
    for ok, message in ensemble_checks(settings):
        if not ok:
            raise ConfigError(message)
    return EnsembleRewardModel(
        feature_dim, num_heads=settings.explore_heads, width=settings.explore_width, depth=settings.explore_depth,
        prior_scale=settings.explore_prior_scale, lr=settings.explore_lr, weight_decay=settings.explore_weight_decay,
        reg_weight=settings.explore_reg, steps=settings.explore_steps, batch_size=settings.explore_batch_size,
        bootstrap=settings.explore_bootstrap, seed=seed, device=device,
    )


def build_epistemic(config, policy, rule: PairRule) -> EpistemicExplorer:
    """The explorer for ``rule`` with the configured features and ensemble. ``config``: the run's config
    as ``build_explorer`` hands it on; read here are its ``ExplorationSettings`` and the run's ``seed``."""
    features = build_features(config, policy)
    device = policy.device if policy is not None else "cpu"
    reward_model = EpistemicRewardModel(features, ensemble_from_config(config, features.dim, device, seed=config.seed),
                                        length_penalty=config.length_penalty)
    return EpistemicExplorer(reward_model, rule)
