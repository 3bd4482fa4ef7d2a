from sealign.recipes import Recipe

RECIPE = Recipe(
    name="rlhflow",
    summary="RLHFlow online iterative DPO: each round samples n=8 (half at T=1.0, half at 0.7), asks about "
            "the best vs worst by a Bradley-Terry reward model fit to all answers so far (ties dropped), "
            "then retrains DPO from the SFT model on all data.",
    reference="paper 002 (RLHF Workflow) Algorithm 2 and sec. 3",
    settings={"schedule": "iterative", "rounds": 3, "round_data": "all", "round_init": "sft",
              "round_reference": "sft", "explorer": "best-worst", "num_candidates": 8, "temperature": 1.0,
              "second_temperature": 0.7, "loss": "dpo"},  # --length-penalty: r - lambda*|y| ranking
)
