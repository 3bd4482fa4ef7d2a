"""The actor: samples M candidate responses per prompt from the current policy."""

from __future__ import annotations

import torch

from sealign.policy.hf import HFPolicy
from sealign.types import Candidate, Prompt


class Actor:
    def __init__(self, policy: HFPolicy, num_candidates: int, temperature: float, top_p: float,
                 max_new_tokens: int, seed: int):
        self.policy = policy
        self.num_candidates = num_candidates
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        self.seed = seed

    def sample(self, prompts: list[Prompt], step: int) -> list[list[Candidate]]:
        """``num_candidates`` responses per prompt; the randomness depends only on (seed, step)."""
        prompt_ids = self.policy.encode_prompts([p.text for p in prompts])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + step)
            responses = self.policy.generate(
                prompt_ids, n=self.num_candidates, temperature=self.temperature, top_p=self.top_p,
                max_new_tokens=self.max_new_tokens,
            )
        return [
            [Candidate(prompt, ids, r, self.policy.decode(r)) for r in group]
            for prompt, ids, group in zip(prompts, prompt_ids, responses)
        ]
