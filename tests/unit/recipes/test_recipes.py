"""Every preset resolves to a valid config, its variants too (that each learns: tests/e2e/test_recipes_learn.py)."""

from __future__ import annotations

import pytest

from sealign.cli_flags import resolve_config
from sealign.errors import ConfigError
from sealign.recipes import REGISTRY, get_recipe


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_preset_resolves_to_a_valid_config(name):
    recipe = get_recipe(name)
    assert recipe.reference and recipe.summary
    config = resolve_config(["--preset", name])
    assert config.preset == name
    for variant in recipe.variants:
        assert resolve_config(["--preset", name, "--variant", str(variant)]).variant == variant


def test_sea_variants_follow_table_1():
    rows = {v: resolve_config(["--preset", "sea", "--variant", str(v)]) for v in range(1, 8)}
    assert rows[1].explorer == "passive" and rows[1].eval_best_of_n == 0
    assert rows[3].explorer == "sea-ee" and rows[3].erm_sync > 0 and rows[2].erm_sync == 0
    assert all(rows[v].eval_best_of_n > 1 for v in (4, 5, 6, 7))
    assert not rows[7].learn_policy and all(rows[v].learn_policy for v in range(1, 7))
    with pytest.raises(ConfigError, match="no variant 9"):
        resolve_config(["--preset", "sea", "--variant", "9"])
