from sealign.recipes.recipe import Recipe

RECIPE = Recipe(
    name="apl",
    summary="APL: the pair of largest implicit-reward margin, on the prompts of highest predictive entropy.",
    reference="Muldrew et al. 2024 (Active Preference Learning), as compared in Liu et al. 2024 sec. 6",
    settings={"schedule": "online", "explorer": "apl", "loss": "dpo", "apl_prompt_fraction": 0.5},
)
