"""The actor: samples M candidate responses per prompt from the current policy."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from sealign.policy.base import Policy
from sealign.records.types import Candidate, Prompt


class Stream(IntEnum):
    """Independent sampling seeds at one step: the query batch, and the batches that are not asked about."""

    QUERIES = 0
    QUERY_FREE = 1
    """Asghari et al.'s second, query-free batch of a step."""
    VALIDATION = 2
    """The responses to the validation prompts that pick an iterative run's best round."""


def row_seed(seed: int, step: int, row: int, stream: int = Stream.QUERIES) -> int:
    """The sampling seed of the ``row``-th prompt of step ``step``'s batch (64 bits, well mixed);
    ``stream`` names another independent batch sampled at the same step."""
    entropy = [seed, step, row] if stream == Stream.QUERIES else [seed, step, row, int(stream)]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


class Actor:
    def __init__(self, policy: Policy, num_candidates: int, temperature: float, top_p: float,
                 max_new_tokens: int, seed: int, second_temperature: float = 0.0,
                 reference_candidates: int = 0, reference=None, feature_pooling: str | None = None):
        # explore_features='live': the policy's pooled hidden states ride along with each of its samples
        self.feature_pooling = feature_pooling
        self.second_temperature = second_temperature
        # XPO (Xie et al. 2024, Alg. 1) asks about a policy sample against a reference sample: the
        # last ``reference_candidates`` of each prompt's candidates come from ``reference``.
        self.reference_candidates = reference_candidates
        self.reference = reference
        self.policy = policy
        self.num_candidates = num_candidates
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        self.seed = seed

    def sample(self, prompts: list[Prompt], step: int, first_row: int = 0, stream: int = 0) -> list[list[Candidate]]:
        """``num_candidates`` responses per prompt.

        The responses to a prompt depend only on (seed, step, stream, its row in the step's batch):
        ``first_row`` is the row of ``prompts[0]`` when this call samples a shard of the batch
        (the Ray runtime), so any split of a batch over actors samples exactly the same texts;
        ``stream`` 1 is Asghari et al.'s query-free second batch of a step.
        """
        prompt_ids = self.policy.encode_prompts([p.text for p in prompts])
        from_policy = self.num_candidates - self.reference_candidates
        # RLHFlow (Dong et al. 2024 Alg. 2) samples half the candidates at a second temperature.
        split = from_policy // 2 if self.second_temperature > 0 else from_policy
        responses, features = self._from_policy(
            prompt_ids, split, self.temperature,
            [row_seed(self.seed, step, first_row + i, stream) for i in range(len(prompts))])
        if split < from_policy:
            second, second_features = self._from_policy(
                prompt_ids, from_policy - split, self.second_temperature,
                [row_seed(self.seed, step, 1 << 32 | (first_row + i), stream) for i in range(len(prompts))])
            responses = [a + b for a, b in zip(responses, second)]
            features = [a + b for a, b in zip(features, second_features)]
        if self.reference_candidates:
            from_reference = self.policy.generate(
                prompt_ids, n=self.reference_candidates, temperature=self.temperature, top_p=self.top_p,
                max_new_tokens=self.max_new_tokens, model=self.reference,
                seeds=[row_seed(self.seed, step, 2 << 32 | (first_row + i), stream) for i in range(len(prompts))],
            )
            responses = [a + b for a, b in zip(responses, from_reference)]
            features = [a + [None] * self.reference_candidates for a in features]
        sources = ["policy"] * from_policy + ["reference"] * self.reference_candidates
        return [
            [Candidate(prompt, ids, r, self.policy.decode(r), f, source=s)
             for r, f, s in zip(group, group_features, sources)]
            for prompt, ids, group, group_features in zip(prompts, prompt_ids, responses, features)
        ]

    def _from_policy(self, prompt_ids, n: int, temperature: float, seeds: list[int]):
        """``n`` responses per prompt from the policy, and per response its features or None."""
        settings = dict(n=n, temperature=temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens, seeds=seeds)
        if self.feature_pooling:
            responses, pooled = self.policy.generate_with_features(prompt_ids, pooling=self.feature_pooling, **settings)
            if pooled is not None:
                return responses, [list(rows.unbind(0)) for rows in pooled]
        else:
            responses = self.policy.generate(prompt_ids, **settings)
        return responses, [[None] * n for _ in prompt_ids]
