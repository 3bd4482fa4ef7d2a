from sealign.recipes.recipe import Recipe

RECIPE = Recipe(
    name="online-dpo",
    summary="Passive online DPO (OAIF): a random pair of M samples is labelled and learned from every batch.",
    reference="Guo et al. 2024 (OAIF); Liu et al. 2024 (SEA) Table 1 row 1, 'passive' exploration",
    settings={"schedule": "online", "explorer": "passive", "loss": "dpo"},
)
