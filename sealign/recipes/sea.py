from sealign.recipes.recipe import Recipe

# Liu et al. 2024 (SEA) Table 1: inference policy, exploration, and what learns. Row 3 is SEA itself.
_ROW = {"erm_sync": 0.0, "eval_best_of_n": 0, "learn_policy": True}  # what every row sets
VARIANTS = {v: {**_ROW, **row} for v, row in {
    1: {"explorer": "passive"},  # online DAP (Guo et al. 2024)
    2: {"explorer": "sea-ee"},  # SEA without ERM sync
    3: {"explorer": "sea-ee", "erm_sync": 0.3},  # SEA: policy <-> reward model
    4: {"explorer": "ensemble-passive", "eval_best_of_n": 8},
    5: {"explorer": "sea-ee", "eval_best_of_n": 8},
    6: {"explorer": "sea-ee", "erm_sync": 0.3, "eval_best_of_n": 8},  # SEA with Best-of-N sampling
    7: {"explorer": "sea-ee", "eval_best_of_n": 8, "learn_policy": False},  # Dwaracherla et al. 2024
}.items()}

RECIPE = Recipe(
    name="sea",
    summary="SEA: Thompson sampling over an epistemic reward model picks the pair; policy and reward "
            "model learn online, with ERM sync (--variant 1-7: the rows of Table 1).",
    reference="Liu et al. 2024 (SEA) sec. 4, Algorithm 1 and Table 1; oat defaults (20 heads, width 128, ERM cap 0.3)",
    settings={"schedule": "online", "loss": "dpo"},
    variants=VARIANTS,
    default_variant=3,
)
