"""XPO's query (Xie et al. 2024, Exploratory Preference Optimization, Algorithm 1): a response of
the policy against a response of the reference policy.

The actor samples the last ``reference_candidates`` of each prompt's candidates from the reference;
this explorer asks about a random policy sample (``a``) against a random reference sample (``b``),
and the loop hands ``b`` to the XPO loss as the sample ``y~ ~ pi_ref`` of its bonus
``alpha * log pi(y~|x)``: the bonus sits on the very response that was queried, as in XPO, TRL's
``XPOTrainer`` and oat's ``XPOActor``.
"""

from __future__ import annotations

import numpy as np

from sealign.errors import ConfigError
from sealign.exploration.base import Pair, Query, queries_of
from sealign.records.types import Candidate, Comparison


class XPOExplorer:
    def __init__(self, reference_candidates: int):
        self.reference_candidates = reference_candidates

    def select(self, candidates: list[list[Candidate]], rng: np.random.Generator) -> list[list[Query]]:
        pairs: list[Pair | None] = []
        for group in candidates:
            from_policy = len(group) - self.reference_candidates
            pairs.append((int(rng.integers(from_policy)), from_policy + int(rng.integers(self.reference_candidates))))
        return queries_of(candidates, pairs)

    def update(self, comparisons: list[Comparison]) -> dict[str, float]:
        return {}


def build(config, policy=None) -> XPOExplorer:
    """``config``: the run's; read is the actor's ``reference_candidates`` (``SamplingSettings``): the
    last candidates of each prompt are the reference's."""
    if config.reference_candidates < 1:
        raise ConfigError("the xpo explorer pairs a policy sample with a reference sample: "
                          "set --reference-candidates 1")
    return XPOExplorer(config.reference_candidates)
