"""Pairs labelled by the epistemic reward model's mean instead of the oracle (no query is spent).

Two uses from the papers:
- SEA's mixed preference learning, "ERM sync" (Liu et al. 2024 sec. 4.2.3): the policy also learns from
  pairs the reward model labels, capped at a fraction of its training data after a burn-in.
- Asghari et al.'s policy update (sec. 4.3.3): reinforcement signals come from the reward model, on the
  query pair (both orders) and on the (highest, lowest) pair of each prompt's samples; then, on a
  second, query-free batch, on the (highest, lowest) and (second-highest, second-lowest) pairs.

A model label is a `Comparison` with ``source="reward-model"`` and ``prob_a = sigmoid(m_a - m_b)``
(m = ensemble mean), so ``logit(prob_a)`` is the reward difference a reinforce signal needs. Model
labels are written to the feedback log like answers (but never counted as queries), so a resumed
run replays them.
"""

from __future__ import annotations

import math
import time
import uuid

import numpy as np
import torch

from sealign.errors import ConfigError
from sealign.exploration.base import Query, RewardModel, index_pair
from sealign.records.types import Candidate, Comparison

SOURCE = "reward-model"


def require_reward_model(reward_model: RewardModel | None, what: str) -> None:
    if reward_model is None:
        raise ConfigError(f"{what} needs an explorer with an epistemic reward model "
                          "(sea-ee, sea-bai, uncertainty, ids, best-worst, ensemble-passive), not a plain one")


def mean_rewards(reward_model: RewardModel, candidates: list[list[Candidate]]) -> list[torch.Tensor]:
    """The reward model's ranking score of every candidate (the ensemble mean, less the length penalty
    when one is set: the same score selects, labels, signals and reranks): one ``[M]`` tensor per prompt."""
    flat = [c for group in candidates for c in group]
    with torch.no_grad():
        means = reward_model.score(flat).cpu()
    out, start = [], 0
    for group in candidates:
        out.append(means[start: start + len(group)])
        start += len(group)
    return out


def model_label(a: Candidate, b: Candidate, reward_a: float, reward_b: float, step: int, run_id: str) -> Comparison:
    diff = reward_a - reward_b
    prob_a = 1 / (1 + math.exp(-diff)) if diff >= 0 else math.exp(diff) / (1 + math.exp(diff))
    winner = "a" if diff > 0 else "b" if diff < 0 else "tie"
    return Comparison(id=uuid.uuid4().hex, run_id=run_id, step=step, prompt=a.prompt, a=a, b=b, winner=winner,
                      prob_a=prob_a, oracle=SOURCE, cost=0.0, cost_unit="none", timestamp=time.time(),
                      source=SOURCE)


def erm_sync_labels(reward_model: RewardModel, candidates: list[list[Candidate]], queried: list[list[Query]],
                    num_answers: int, ratio: float, step: int, run_id: str) -> list[Comparison]:
    """Best-vs-worst (by the mean) pairs of each prompt, other than the queried pair, most confident
    first, as many as make up ``ratio`` of the policy's batch: n = round(answers * ratio / (1 - ratio))."""
    wanted = round(num_answers * ratio / (1 - ratio))
    if wanted <= 0:
        return []
    scored = []
    for group, means, queries in zip(candidates, mean_rewards(reward_model, candidates), queried):
        best, worst = int(means.argmax()), int(means.argmin())
        if best == worst or any({best, worst} == set(index_pair(group, q)) for q in queries):
            continue
        if group[best].token_ids == group[worst].token_ids:
            continue
        scored.append((float(means[best] - means[worst]), group[best], group[worst], means[best], means[worst]))
    scored.sort(key=lambda row: -row[0])
    return [model_label(a, b, float(ra), float(rb), step, run_id) for _, a, b, ra, rb in scored[:wanted]]


def replace_with_model_labels(reward_model: RewardModel, candidates: list[list[Candidate]],
                              queries: list[list[Query]], ratio: float, rng: np.random.Generator, step: int,
                              run_id: str) -> tuple[list[list[Query]], list[Comparison]]:
    """SEA's mixed preference learning as oat does it: ``floor(ratio * B)`` random prompts of the batch
    are labelled by the reward model *instead of* being asked. For each, one head k is drawn (a
    posterior sample), the pair of largest margin ``|r_k(i) - r_k(j)|`` among distinct responses is
    labelled by that head, and the prompt's query is dropped, so the label saves a query.

    Returns the queries still to ask (none for a prompt whose label replaced them) and the labels.
    """
    chosen = rng.permutation(len(candidates))[: math.floor(ratio * len(candidates))]
    queries, labels = list(queries), []
    sizes = [len(group) for group in candidates]
    with torch.no_grad():
        per_prompt = reward_model.head_scores([c for group in candidates for c in group]).cpu().split(sizes, dim=1)
    for row in sorted(int(r) for r in chosen):
        group, scores = candidates[row], per_prompt[row]
        head = scores[int(rng.integers(scores.shape[0]))]
        margin = (head[:, None] - head[None, :]).abs()
        for i in range(len(group)):  # identical responses carry no preference
            for j in range(len(group)):
                if group[i].token_ids == group[j].token_ids:
                    margin[i, j] = -1.0
        if margin.max() < 0:
            continue  # every response is the same text: ask as usual
        i, j = divmod(int(margin.argmax()), len(group))
        labels.append(model_label(group[i], group[j], float(head[i]), float(head[j]), step, run_id))
        queries[row] = []
    return queries, labels


def signal_labels(reward_model: RewardModel, candidates: list[list[Candidate]], queried: list[list[Query]],
                  step: int, run_id: str) -> list[Comparison]:
    """Asghari et al. 2026 sec. 4.3.3: per prompt, the query pair and the (highest, lowest) pair, each labelled by
    the reward model (the learner uses every label in both orders)."""
    labels = []
    for group, means, queries in zip(candidates, mean_rewards(reward_model, candidates), queried):
        pairs = [index_pair(group, q) for q in queries]
        top, bottom = int(means.argmax()), int(means.argmin())
        if top != bottom:
            pairs.append((top, bottom))
        for i, j in pairs:
            labels.append(model_label(group[i], group[j], float(means[i]), float(means[j]), step, run_id))
    return labels


def ranked_labels(reward_model: RewardModel, candidates: list[list[Candidate]], step: int,
                  run_id: str) -> list[Comparison]:
    """Asghari et al. 2026 sec. 4.3.3, the query-free batch: per prompt, the (highest, lowest) and
    (second-highest, second-lowest) pairs by the reward model's mean (both orders in the learner)."""
    labels = []
    for group, means in zip(candidates, mean_rewards(reward_model, candidates)):
        order = means.argsort(descending=True).tolist()
        for rank in range(min(2, len(order) // 2)):
            top, bottom = order[rank], order[-1 - rank]
            if means[top] > means[bottom]:  # equal rewards carry no signal
                labels.append(model_label(group[top], group[bottom], float(means[top]), float(means[bottom]),
                                          step, run_id))
    return labels
