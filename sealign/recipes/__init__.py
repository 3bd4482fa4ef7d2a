"""Named recipes: a composition of the loop's parts and a schedule, as settings over the defaults.

A new recipe is one file defining ``RECIPE`` and one line in ``REGISTRY``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from sealign.errors import ConfigError


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    reference: str
    """Where the algorithm is specified (paper and section)."""
    settings: dict = field(default_factory=dict)


REGISTRY = {
    "online-dpo": "sealign.recipes.online_dpo",
    "offline-dpo": "sealign.recipes.offline_dpo",
}


def get_recipe(name: str) -> Recipe:
    if name not in REGISTRY:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(REGISTRY))}")
    return importlib.import_module(REGISTRY[name]).RECIPE
