from sealign.recipes.recipe import Recipe

RECIPE = Recipe(
    name="xpo",
    summary="XPO: online DPO on (policy sample, reference sample) queries, with the exploration bonus "
            "alpha * log pi(y_ref|x) on that same reference sample.",
    reference="Xie et al. 2024 (XPO) Algorithm 1, as listed in Liu et al. 2024 sec. 2; alpha as oat's xpo_alpha (5e-6)",
    # Two candidates: one from the policy, one from the reference; the xpo explorer asks about both.
    settings={"schedule": "online", "explorer": "xpo", "num_candidates": 2, "reference_candidates": 1,
              "loss": "xpo", "alpha": 5e-6},
)
