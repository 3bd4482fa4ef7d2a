from sealign.recipes.recipe import Recipe

RECIPE = Recipe(
    name="offline-dpo",
    summary="Offline DPO: the whole budget is labelled on SFT samples first, then the policy trains on it.",
    reference="paper 003 sec. 4.3 'offline RLHF' baseline; paper 000 sec. 2 (offline DAP)",
    settings={"schedule": "offline", "explorer": "passive", "loss": "dpo"},
)
