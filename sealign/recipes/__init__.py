"""Named recipes: a composition of the loop's parts and a schedule, as settings over the defaults.

A new recipe is one file defining ``RECIPE`` and one line in ``REGISTRY``.
"""

from __future__ import annotations

from sealign.lookup import pick
from sealign.recipes import apl, ees, offline_dpo, online_dpo, periodic, real, rlhflow, sea, selm, xpo
from sealign.recipes.recipe import Recipe

REGISTRY = {
    "online-dpo": online_dpo.RECIPE,
    "offline-dpo": offline_dpo.RECIPE,
    "periodic": periodic.RECIPE,
    "sea": sea.RECIPE,
    "xpo": xpo.RECIPE,
    "apl": apl.RECIPE,
    "selm": selm.RECIPE,
    "rlhflow": rlhflow.RECIPE,
    "ees": ees.RECIPE,
    "real": real.RECIPE,
}


def get_recipe(name: str) -> Recipe:
    return pick("preset", name, REGISTRY)


__all__ = ["Recipe", "REGISTRY", "get_recipe"]
