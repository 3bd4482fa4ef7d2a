from sealign.recipes import Recipe

RECIPE = Recipe(
    name="xpo",
    summary="XPO: online DPO with the exploration bonus alpha * log pi(y_ref|x) on reference samples.",
    reference="Xie et al. 2024 (XPO), as listed in paper 000 sec. 2",
    settings={"schedule": "online", "explorer": "passive", "loss": "xpo", "alpha": 0.001},
)
