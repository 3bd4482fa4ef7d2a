"""Shared machinery of the ensemble-driven explorers: features -> reward samples -> a pair rule.

An explorer such as ``sea-ee`` is this class plus its pure rule ``select_pair(rewards, rng)``; the
rule sees only the ``[K, M]`` reward samples of one prompt's candidates, so the same function is
unit-tested on hand-made tensors and reused unchanged by the dueling-bandit testbed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sealign.errors import ConfigError
from sealign.exploration.base import Pair
from sealign.exploration.epistemic import BOOTSTRAPS, EnsembleRewardModel
from sealign.exploration.features import CandidateFeatures, build_features
from sealign.exploration.rules import PairRule
from sealign.types import Candidate, Comparison

TARGETS = {"a": 1.0, "b": 0.0, "tie": 0.5}


def _key(c: Candidate) -> tuple:
    return tuple(c.prompt_ids), tuple(c.token_ids)


class EpistemicExplorer:
    """Scores every candidate with each ensemble head and lets ``rule`` pick the pair per prompt.

    ``update`` adds the answered comparisons to the ensemble's replay buffer and refits it. The
    features computed in ``select`` are kept until the next ``select`` (the answers of a step are
    about candidates of that step), so the backbone runs once per candidate.
    """

    def __init__(self, features: CandidateFeatures, model: EnsembleRewardModel, rule: PairRule,
                 length_penalty: float = 0.0):
        self.features, self.model, self.rule = features, model, rule
        self.length_penalty = length_penalty
        self._cache: dict[tuple, Tensor] = {}
        self._selected_std: list[float] = []

    def featurize(self, candidates: list[Candidate]) -> Tensor:
        """``[len(candidates), D]``, from this step's cache where possible."""
        missing = [k for k in dict.fromkeys(_key(c) for c in candidates) if k not in self._cache]
        if missing:
            by_key = {_key(c): c for c in candidates}
            for key, row in zip(missing, self.features([by_key[k] for k in missing])):
                self._cache[key] = row
        return torch.stack([self._cache[_key(c)] for c in candidates])

    def _penalised(self, rewards: Tensor, flat: list[Candidate]) -> Tensor:
        if not (self.length_penalty and flat):
            return rewards
        # Paper 002 ranks with r(x, y) - lambda * |y|, |y| in characters, against verbose winners.
        chars = torch.tensor([len(c.text) for c in flat], dtype=rewards.dtype, device=rewards.device)
        return rewards - self.length_penalty * chars

    def score(self, candidates: list[Candidate]) -> Tensor:
        """``[len(candidates)]``: the ranking reward, ensemble mean minus the length penalty."""
        return self._penalised(self.model.mean(self.featurize(candidates)), candidates)

    def head_scores(self, candidates: list[Candidate]) -> Tensor:
        """``[K, len(candidates)]``: each head's ranking reward (its sample, less the length penalty)."""
        return self._penalised(self.model.rewards(self.featurize(candidates)), candidates)

    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[Pair | None]:
        self._cache.clear()
        flat = [c for group in candidates for c in group]
        rewards = self.model.rewards(self.featurize(flat)) if flat else torch.empty(0, 0)  # [K, sum M]
        rewards = self._penalised(rewards, flat)
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
        return pairs

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        if not comparisons:
            return {}
        feats_a = self.featurize([c.a for c in comparisons])
        feats_b = self.featurize([c.b for c in comparisons])
        targets = torch.tensor([TARGETS[c.winner] for c in comparisons])
        self.model.add(feats_a, feats_b, targets)
        metrics = {f"explore/{k}": v for k, v in self.model.fit().items()}
        if self._selected_std:
            metrics["explore/pair_margin_std"] = float(np.mean(self._selected_std))
            self._selected_std.clear()
        return metrics

    def state_dict(self) -> dict:
        """The ensemble's state, for the loop's checkpoints (features are frozen: nothing to save)."""
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])


def ensemble_from_config(config, feature_dim: int, device="cpu") -> EnsembleRewardModel:
    checks = [
        (config.explore_heads >= 1, f"explore_heads must be >= 1 (got {config.explore_heads})"),
        (config.explore_width >= 1, f"explore_width must be >= 1 (got {config.explore_width})"),
        (config.explore_depth >= 0, f"explore_depth must be >= 0 (got {config.explore_depth})"),
        (config.explore_steps >= 1, f"explore_steps must be >= 1 (got {config.explore_steps})"),
        (config.explore_lr > 0, f"explore_lr must be > 0 (got {config.explore_lr})"),
        (config.explore_bootstrap in BOOTSTRAPS,
         f"explore_bootstrap must be one of {BOOTSTRAPS} (got {config.explore_bootstrap!r})"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return EnsembleRewardModel(
        feature_dim, num_heads=config.explore_heads, width=config.explore_width, depth=config.explore_depth,
        prior_scale=config.explore_prior_scale, lr=config.explore_lr, weight_decay=config.explore_weight_decay,
        reg_weight=config.explore_reg, steps=config.explore_steps, batch_size=config.explore_batch_size,
        bootstrap=config.explore_bootstrap, seed=config.seed, device=device,
    )


def build_epistemic(config, policy, rule: PairRule) -> EpistemicExplorer:
    """The explorer for ``rule`` with the configured features and ensemble."""
    features = build_features(config, policy)
    device = policy.device if policy is not None else "cpu"
    return EpistemicExplorer(features, ensemble_from_config(config, features.dim, device), rule,
                             length_penalty=config.length_penalty)
