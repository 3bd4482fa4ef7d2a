"""The epistemic reward model as a part of the run: frozen features, an ensemble of reward heads
on them, and the ranking score ``mean - length_penalty * |y|``.

The ensemble explorers pick their pairs with it; the rest of the run uses it through
``RunParts.reward_model`` (``base.RewardModel``): model labels (``sealign/run/model_labels.py``),
Best-of-N evaluation and the choice of an iterative run's best round.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sealign.exploration.epistemic import EnsembleRewardModel
from sealign.exploration.features import CandidateFeatures
from sealign.records.types import Candidate, Comparison

TARGETS = {"a": 1.0, "b": 0.0, "tie": 0.5}


def _key(c: Candidate) -> tuple:
    return tuple(c.prompt_ids), tuple(c.token_ids)


class EpistemicRewardModel:
    """``features`` -> ``model`` (K heads). Features are cached for one step (``new_step`` clears
    them): the answers of a step are about candidates of that step, so the backbone runs once per
    candidate."""

    def __init__(self, features: CandidateFeatures, model: EnsembleRewardModel, length_penalty: float = 0.0):
        self.features, self.model, self.length_penalty = features, model, length_penalty
        self._cache: dict[tuple, Tensor] = {}

    def new_step(self) -> None:
        self._cache.clear()

    def featurize(self, candidates: list[Candidate]) -> Tensor:
        """``[len(candidates), D]``, from this step's cache where possible."""
        missing = [k for k in dict.fromkeys(_key(c) for c in candidates) if k not in self._cache]
        if missing:
            by_key = {_key(c): c for c in candidates}
            for key, row in zip(missing, self.features([by_key[k] for k in missing])):
                self._cache[key] = row
        return torch.stack([self._cache[_key(c)] for c in candidates])

    def penalised(self, rewards: Tensor, flat: list[Candidate]) -> Tensor:
        if not (self.length_penalty and flat):
            return rewards
        # Dong et al. 2024 (RLHF Workflow, sec. 3) rank with r(x, y) - lambda * |y|, |y| in characters,
        # against verbose winners.
        chars = torch.tensor([len(c.text) for c in flat], dtype=rewards.dtype, device=rewards.device)
        return rewards - self.length_penalty * chars

    def score(self, candidates: list[Candidate]) -> Tensor:
        """``[len(candidates)]``: the ranking reward, ensemble mean minus the length penalty."""
        return self.penalised(self.model.mean(self.featurize(candidates)), candidates)

    def head_scores(self, candidates: list[Candidate]) -> Tensor:
        """``[K, len(candidates)]``: each head's ranking reward (its sample, less the length penalty)."""
        return self.penalised(self.model.rewards(self.featurize(candidates)), candidates)

    def learn(self, comparisons: list[Comparison]) -> dict[str, float]:
        """Add the answers to the ensemble's replay buffer and refit it; the fit's metrics."""
        feats_a = self.featurize([c.a for c in comparisons])
        feats_b = self.featurize([c.b for c in comparisons])
        targets = torch.tensor([TARGETS[c.winner] for c in comparisons])
        self.model.add(feats_a, feats_b, targets)
        return self.model.fit()
