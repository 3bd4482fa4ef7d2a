from sealign.recipes.recipe import Recipe

RECIPE = Recipe(
    name="rlhflow",
    summary="RLHFlow online iterative DPO: each round samples n=8 (half at T=1.0, half at 0.7), asks about "
            "the best vs worst by a Bradley-Terry reward model fit to all answers so far (ties dropped), "
            "then retrains DPO from the SFT model on all data; keeps the round the reward model scores best on "
            "a validation split (--variant 2: ranked by a pairwise preference model).",
    reference="Dong et al. 2024 (RLHF Workflow) Algorithm 2 and sec. 3",
    settings={"schedule": "iterative", "rounds": 3, "round_data": "all", "round_init": "sft",
              "round_reference": "sft", "explorer": "best-worst", "num_candidates": 8, "temperature": 1.0,
              "second_temperature": 0.7, "loss": "dpo",
              # Alg. 2's output: the best round by the reward model on 64 held-out training prompts.
              "validation_prompts": 64},  # --length-penalty: r - lambda*|y| ranking
    # The ranker of the n samples (Dong et al. 2024 sec. 2.1): 1 = the Bradley-Terry reward model above;
    # 2 = a pairwise preference model ("A" or "B" after the pair; --ranker-model, default the
    # built-in task's, trained on offline data and fixed), Borda best vs worst (docs/exploration.md).
    # The pairwise model scores pairs, not single responses, so variant 2 keeps the last round.
    variants={1: {"explorer": "best-worst"}, 2: {"explorer": "pairwise-rank", "validation_prompts": 0}},
    default_variant=1,
)
