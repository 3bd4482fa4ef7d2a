"""APL, active preference learning (Muldrew et al. 2024): the policy's own implicit DPO reward.

No ensemble: the score of a candidate is the implicit reward ``s(y) = beta * (log pi(y|x) -
log pi_ref(y|x))`` of the current policy against the reference (the initial policy), and the pair
with the largest margin ``|s(yi) - s(yj)|`` is queried. Optionally only the prompts with the
highest predictive entropy are queried at all (APL's prompt acquisition): the entropy of
``pi(.|x)`` is estimated from the M samples as ``H(x) ~ -(1/M) sum_m log pi(y_m|x)`` with summed
sequence log-probs, as in APL and oat (``apl_entropy=token`` divides each by its length instead),
and the ``apl_prompt_fraction`` most uncertain prompts of each batch are kept (the others get
``None``). Sequence entropy favours prompts whose answers are long as well as uncertain.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from sealign.errors import ConfigError
from sealign.exploration.base import Pair, Query, queries_of
from sealign.exploration.rules import argmax_pair
from sealign.records.types import Candidate, Comparison


def select_pair(rewards: Tensor, rng: np.random.Generator | None = None) -> Pair:
    """``rewards [K, M]`` -> ``argmax_{i < j} |s_i - s_j|`` with ``s = mean_k rewards`` (first on ties).

    In the LLM loop ``rewards`` is the ``[1, M]`` implicit reward; in the bandit, the ensemble.
    """
    score = rewards.mean(0)
    return argmax_pair((score[:, None] - score[None, :]).abs())


def keep_most_uncertain(entropy: Tensor, fraction: float) -> Tensor:
    """Boolean mask ``[B]`` of the ``ceil(fraction * B)`` prompts with the largest ``entropy [B]``."""
    keep = max(1, math.ceil(fraction * len(entropy)))
    mask = torch.zeros(len(entropy), dtype=torch.bool)
    mask[torch.topk(entropy, keep).indices] = True
    return mask


class APLExplorer:
    def __init__(self, policy, beta: float, prompt_fraction: float = 1.0, batch_size: int = 16,
                 entropy: str = "sequence"):
        self.policy, self.beta, self.prompt_fraction, self.batch_size = policy, beta, prompt_fraction, batch_size
        self.per_token = entropy == "token"
        self.reference = policy.frozen_copy()  # the initial policy: the learner's reference too

    @torch.no_grad()
    def scores(self, candidates: list[Candidate]) -> tuple[Tensor, Tensor]:
        """Implicit rewards ``[N]`` and negative log-likelihoods ``[N]`` (summed, or per token) of the candidates."""
        rewards, nll = [], []
        for s in range(0, len(candidates), self.batch_size):
            part = candidates[s: s + self.batch_size]
            prompts, responses = [c.prompt_ids for c in part], [c.token_ids for c in part]
            logp, lengths = self.policy.sequence_logprobs(prompts, responses)
            ref, _ = self.policy.sequence_logprobs(prompts, responses, model=self.reference)
            rewards.append((self.beta * (logp - ref)).cpu())
            nll.append((-logp / (lengths.clamp_min(1) if self.per_token else 1)).cpu())
        return torch.cat(rewards), torch.cat(nll)

    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[list[Query]]:
        flat = [c for group in candidates for c in group]
        rewards, nll = self.scores(flat)
        sizes = [len(group) for group in candidates]
        groups = list(zip(rewards.split(sizes), nll.split(sizes)))
        keep = keep_most_uncertain(torch.stack([n.mean() for _, n in groups]), self.prompt_fraction)
        pairs = [select_pair(r[None], rng) if k and len(r) >= 2 else None for (r, _), k in zip(groups, keep)]
        return queries_of(candidates, pairs)

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        return {}


def build(config, policy=None) -> APLExplorer:
    """``config``: the run's; read are its ``ExplorationSettings`` (apl_*) and the loss's ``beta``
    (the implicit reward's scale)."""
    if policy is None:
        raise ConfigError("the apl explorer needs the policy (its implicit reward); pass it to build_explorer")
    if not 0 < config.apl_prompt_fraction <= 1:
        raise ConfigError(f"apl_prompt_fraction must be in (0, 1] (got {config.apl_prompt_fraction})")
    return APLExplorer(policy, config.beta, config.apl_prompt_fraction, entropy=config.apl_entropy)
