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
    variants: dict[int, dict] = field(default_factory=dict)
    """Named alternatives (``--variant N``): settings applied over ``settings``."""

    default_variant: int = 0

    def settings_for(self, variant: int | None) -> dict:
        if variant is None and self.variants:
            variant = self.default_variant
        if variant is None or (not self.variants and variant == 0):
            return dict(self.settings)
        if variant not in self.variants:
            choices = ", ".join(map(str, self.variants)) or "none"
            raise ConfigError(f"preset {self.name!r} has no variant {variant} (variants: {choices})")
        return {**self.settings, **self.variants[variant], "variant": variant}


REGISTRY = {
    "online-dpo": "sealign.recipes.online_dpo",
    "offline-dpo": "sealign.recipes.offline_dpo",
    "periodic": "sealign.recipes.periodic",
    "sea": "sealign.recipes.sea",
    "xpo": "sealign.recipes.xpo",
    "apl": "sealign.recipes.apl",
    "selm": "sealign.recipes.selm",
    "rlhflow": "sealign.recipes.rlhflow",
    "ees": "sealign.recipes.ees",
    "real": "sealign.recipes.real",
}


def get_recipe(name: str) -> Recipe:
    if name not in REGISTRY:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(REGISTRY))}")
    return importlib.import_module(REGISTRY[name]).RECIPE
