"""Best vs worst of n ranked by a pairwise preference model (Dong et al. 2024 sec. 2.1 and Algorithm 2).

RLHFlow ranks its n = 8 samples per prompt with a reward model and asks about the best and the
worst; this explorer does the ranking with a *pairwise preference model* instead: a causal LM that
reads ``[CONTEXT] x [RESPONSE A] a [RESPONSE B] b`` and gives ``P(a > b) = p("A") / (p("A") + p("B"))``
(the `pairwise` oracle's reader, `PairwisePreferenceOracle.prob_first_wins`). The paper names the
cost of this choice without fixing a rule: "to rank n responses, the complexity of using the reward
model is linear in n, while it is far more complicated with the pairwise preference model" (sec. 3);
the rule here is **ours**, a Borda count on win probabilities:

    P[i, j] = P(y_i > y_j)   for all i < j, each pair shown once in a random order; P[j, i] = 1 - P[i, j]
    s_i     = mean_{j != i} P[i, j]                     (expected win rate against the other candidates)
    pair    = (argmax_i s_i, argmin_i s_i)              (first index on ties; None when the two scores tie)

M (M - 1) / 2 model calls per prompt (fewer with repeated responses), all pairs of a step in one
batched call. A response sampled twice (the same token ids) is read once: its copies share its
row and column, P = 1/2 between them, so they score alike; a best and worst with the same token ids
are skipped, as the paper drops a pair where both policies "give the same response". The model is
fixed, as in the paper: ``update`` learns nothing (it reports ``explore/borda_margin``, the mean
``s_best - s_worst`` of the asked pairs).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sealign.errors import ConfigError
from sealign.exploration.base import Pair, Query, queries_of
from sealign.exploration.settings import ExplorationSettings
from sealign.records.types import Candidate, Comparison


def borda_scores(win_prob: Tensor) -> Tensor:
    """``s_i = mean_{j != i} P[i, j]`` of an ``[M, M]`` win-probability matrix (diagonal ignored)."""
    m = win_prob.shape[0]
    # Row sum minus the diagonal (not a masked sum): equal rows give bit-equal scores.
    return (win_prob.sum(1) - win_prob.diagonal()) / max(1, m - 1)


def select_pair(win_prob: Tensor, rng: np.random.Generator | None = None) -> Pair | None:
    """``win_prob [M, M]`` (``P[i, j]`` = P(candidate i beats j)) -> (best, worst) by Borda score;
    ``None`` when they tie (no candidate ranks above another: skip the prompt) or when a probability
    is not finite (a model that read NaN ranks nothing)."""
    if not bool(torch.isfinite(win_prob).all()):
        return None
    scores = borda_scores(win_prob)
    best, worst = int(scores.argmax()), int(scores.argmin())
    if scores[best] == scores[worst]:
        return None
    return best, worst


def win_matrices(ranker, groups: list[list[Candidate]], rng: np.random.Generator) -> list[Tensor]:
    """One ``[M, M]`` win-probability matrix per group, from one batched call of ``ranker.prob_first_wins``.

    Each pair of distinct responses (by token ids; a repeated response is read at its first index)
    is shown once, in the order of a coin drawn from ``rng`` (pairs enumerated group by group, i < j),
    so a (seed, step) gives the same matrices.
    """
    prompts, firsts, seconds, slots, reps = [], [], [], [], []
    for g, group in enumerate(groups):
        first_seen: dict[tuple, int] = {}
        rep = [first_seen.setdefault(tuple(c.token_ids), i) for i, c in enumerate(group)]
        reps.append(rep)
        distinct = sorted(first_seen.values())
        pairs = [(i, j) for a, i in enumerate(distinct) for j in distinct[a + 1:]]
        for (i, j), swap in zip(pairs, rng.random(len(pairs)) < 0.5):
            first, second = (group[j], group[i]) if swap else (group[i], group[j])
            prompts.append(group[i].prompt.text)
            firsts.append(first.text)
            seconds.append(second.text)
            slots.append((g, i, j, bool(swap)))
    read = [torch.full((len(group), len(group)), 0.5) for group in groups]  # on the first indices
    if prompts:
        probs, _ = ranker.prob_first_wins(prompts, firsts, seconds)
        for (g, i, j, swap), p in zip(slots, probs, strict=True):
            p_ij = 1.0 - p if swap else p
            read[g][i, j], read[g][j, i] = p_ij, 1.0 - p_ij
    # Copies take their first index's row and column (and 1/2 against each other).
    return [q[rep][:, rep] for q, rep in zip(read, reps)]


class PairwiseRankExplorer:
    """Asks the oracle about the Borda best vs worst of each prompt's candidates under ``ranker``."""

    def __init__(self, ranker):
        self.ranker = ranker
        self._margins: list[float] = []

    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[list[Query]]:
        pairs: list[Pair | None] = []
        for group, win_prob in zip(candidates, win_matrices(self.ranker, candidates, rng)):
            pair = select_pair(win_prob, rng) if len(group) >= 2 else None
            if pair is not None and group[pair[0]].token_ids == group[pair[1]].token_ids:
                pair = None
            if pair is not None:
                scores = borda_scores(win_prob)
                self._margins.append(float(scores[pair[0]] - scores[pair[1]]))
            pairs.append(pair)
        return queries_of(candidates, pairs)

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        """The preference model is fixed (Dong et al. 2024): nothing learns from the answers."""
        if not self._margins:
            return {}
        metrics = {"explore/borda_margin": float(np.mean(self._margins))}
        self._margins.clear()
        return metrics


def build(config: ExplorationSettings, policy=None, ranker=None) -> PairwiseRankExplorer:
    """``ranker``: anything with ``prob_first_wins(prompts, firsts, seconds)``; the assembly gives the
    pairwise preference model of ``--ranker-model`` (sealign/run/explorer_inputs.py)."""
    if ranker is None:
        raise ConfigError("pairwise-rank is given its ranker by the assembly: "
                          "build_explorer(config, policy, **explorer_inputs(config, policy))")
    return PairwiseRankExplorer(ranker)
