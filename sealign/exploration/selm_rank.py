"""SELM's data step (Zhang et al. 2024 Algorithm 1, lines 2-3): rank {y, y_w, y_l} and keep best vs worst.

For each prompt, ``y`` is a sample of the current reference policy (the first candidate; the
iterative schedule with ``round_reference=last`` makes pi_ref the last iterate) and (y_w, y_l)
is the prompt's row of an offline preference dataset. The oracle compares all three pairs; the
response with the most wins is kept as chosen and the one with the fewest as rejected (ties
between wins go to the dataset's order, y_w before y_l before y; a triple whose best and worst
tie is dropped). So three queries buy one training pair, as in the paper. A round's share of the
budget that is no multiple of three leaves its last prompt one or two of the three questions
(``collect.within_room``): the budget is a cap, never overshot.
"""

from __future__ import annotations

import uuid

import numpy as np

from sealign.errors import ConfigError
from sealign.exploration.base import Query
from sealign.exploration.settings import ExplorationSettings
from sealign.records.types import Candidate, Comparison

LABEL_SOURCE = "ranked"


class SelmRankExplorer:
    label_source = LABEL_SOURCE
    queries_per_prompt = 3  # the three pairs of the ranked triple

    def __init__(self, policy, data: dict[str, tuple[str, str]]):
        self.policy = policy
        self.data = data

    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[list[Query]]:
        """The three pairs of the triple {y_w, y_l, y}, y the prompt's first sample: (y_w, y_l),
        (y_w, y), (y_l, y); nothing for a prompt the dataset lacks."""
        plans: list[list[Query]] = []
        for group in candidates:
            row = self.data.get(group[0].prompt.text)
            if row is None:
                plans.append([])
                continue
            sample = group[0]
            chosen, rejected = (Candidate(sample.prompt, sample.prompt_ids, ids, text, source="dataset")
                                for text, ids in zip(row, self.policy.encode_responses(list(row))))
            plans.append([Query(chosen, rejected), Query(chosen, sample), Query(rejected, sample)])
        return plans

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        return {}

    def training_pairs(self, answers: list[Comparison]) -> list[Comparison]:
        """Best vs worst of each prompt's ranked triple, as one comparison."""
        by_prompt: dict[str, list[Comparison]] = {}
        for c in answers:
            by_prompt.setdefault(c.prompt.id, []).append(c)
        pairs = []
        for group in by_prompt.values():
            wins: dict[tuple, float] = {}
            responses: dict[tuple, Candidate] = {}
            for c in group:
                for cand, score in ((c.a, {"a": 1, "b": 0, "tie": 0.5}[c.winner]),
                                    (c.b, {"a": 0, "b": 1, "tie": 0.5}[c.winner])):
                    key = tuple(cand.token_ids)
                    responses.setdefault(key, cand)
                    wins[key] = wins.get(key, 0.0) + score
            order = list(responses)  # first seen: y_w, y_l, y
            best = max(order, key=lambda k: wins[k])
            worst = min(order, key=lambda k: wins[k])
            if wins[best] == wins[worst]:
                continue
            first = group[0]
            pairs.append(Comparison(id=uuid.uuid4().hex, run_id=first.run_id, step=first.step, prompt=first.prompt,
                                    a=responses[best], b=responses[worst], winner="a", prob_a=None,
                                    oracle=first.oracle, cost=0.0, cost_unit="none", timestamp=first.timestamp,
                                    source=LABEL_SOURCE))
        return pairs


def build(config: ExplorationSettings, policy=None, data: dict[str, tuple[str, str]] | None = None) -> SelmRankExplorer:
    """``data``: prompt -> (chosen, rejected), given by the assembly (sealign/run/explorer_inputs.py)."""
    if data is None:
        raise ConfigError("selm-rank is given its preference data by the assembly: "
                          "build_explorer(config, policy, **explorer_inputs(config, policy))")
    return SelmRankExplorer(policy, data)
