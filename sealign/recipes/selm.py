from sealign.recipes.recipe import Recipe

RECIPE = Recipe(
    name="selm",
    summary="SELM: T rounds; rank {y ~ pi_ref, y_w, y_l} with the oracle, keep best vs worst, train the "
            "optimism-biased DPO loss, then pi_ref = pi_t.",
    reference="Zhang et al. 2024 (SELM) Algorithm 1 and eq. 4.2; alpha from its grid (1e-4 .. 5e-3)",
    settings={"schedule": "iterative", "rounds": 3, "round_data": "latest", "round_init": "last",
              "round_reference": "last", "explorer": "selm-rank", "num_candidates": 2, "loss": "selm",
              "alpha": 0.001},
)
