"""How the actor samples the candidates (sealign/run/actor.py): M, the reference's share of them,
temperatures, top-p and length; one flag and one YAML key each.

A leaf: it imports nothing from sealign, so ``sealign/config.py`` can compose it into ``RunConfig``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SamplingSettings:
    """How the actor samples the candidates shown to the explorer."""

    max_new_tokens: int = 24
    temperature: float = 1.0
    """Sampling temperature of the candidates shown to the explorer."""
    top_p: float = 1.0
    second_temperature: float = 0.0
    """When > 0, half of the M candidates are sampled at this temperature (RLHFlow: 1.0 and 0.7)."""
    num_candidates: int = 4
    """M: responses sampled per prompt, among which the explorer picks the pair to ask about."""
    reference_candidates: int = 0
    """The last this many of the M candidates are sampled from the reference policy, not the policy
    (XPO: 1, with the xpo explorer asking about a policy sample against it)."""

    def checks(self) -> list[tuple[bool, str]]:
        """(ok, message) pairs; ``RunConfig.validate`` raises the first message that is not ok."""
        return [
            (self.temperature >= 0, f"temperature must be >= 0 (got {self.temperature})"),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1] (got {self.top_p})"),
            (self.max_new_tokens >= 1, f"max_new_tokens must be >= 1 (got {self.max_new_tokens})"),
            (self.num_candidates >= 2, f"num_candidates must be >= 2 to form a pair (got {self.num_candidates})"),
            (0 <= self.reference_candidates < self.num_candidates,
             f"reference_candidates must be in [0, num_candidates) (got {self.reference_candidates})"),
        ]
