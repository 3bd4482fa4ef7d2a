"""Where the actor, oracle and learner run (sealign/runtime/): one flag and one YAML key each.

A leaf: it imports nothing from sealign, so ``sealign/config.py`` can compose it into ``RunConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class RuntimeSettings:
    """Where the actor, oracle and learner run (sealign/runtime/, docs/scale.md)."""

    runtime: Literal["local", "ray"] = "local"
    """local: one process; ray: actors, oracles and the learner as Ray actors (needs the `ray` extra)."""
    actors: int = 1
    """ray: actor processes sampling candidates; a batch is split between them."""
    oracles: int = 1
    """ray: oracle processes answering queries; a batch of queries is split between them."""
    staleness: int = 0
    """ray: batches an actor may sample ahead of the learner (0 = exactly on-policy, as local; 1 = the
    next batch is sampled while the learner steps on this one, with weights one update old)."""
    ray_address: str = ""
    """ray: address of an existing cluster ('auto' or HOST:PORT); empty starts a local one."""

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.actors >= 1, f"actors must be >= 1 (got {self.actors})"),
            (self.oracles >= 1, f"oracles must be >= 1 (got {self.oracles})"),
            (self.staleness >= 0, f"staleness must be >= 0 (got {self.staleness})"),
        ]
