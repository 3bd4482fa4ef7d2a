from sealign.recipes.recipe import Recipe

RECIPE = Recipe(
    name="offline-dpo",
    summary="Offline DPO: the whole budget is labelled on SFT samples first, then the policy trains on it.",
    reference="Asghari et al. 2026 sec. 4.3 'offline RLHF' baseline; Liu et al. 2024 sec. 2 (offline DAP)",
    settings={"schedule": "offline", "explorer": "passive", "loss": "dpo"},
)
