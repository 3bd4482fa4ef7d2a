from sealign.recipes.recipe import Recipe

RECIPE = Recipe(
    name="periodic",
    summary="Periodic RLHF baseline: the budget is collected in rounds, the policy retrained on all data "
            "after each; between rounds it does not change.",
    # Asghari et al. 2026 sec. 4.3.2: each period trains from theta_0 on all the data gathered so far. The paper's
    # update is reinforce on a reward model fit to that data; DPO on the preferences stands in for it here.
    reference="Asghari et al. 2026 sec. 4.3.2 (periodic RLHF baseline; DPO in place of its reward-model reinforce)",
    settings={"schedule": "iterative", "rounds": 4, "round_data": "all", "round_init": "sft",
              "round_reference": "sft", "explorer": "passive", "loss": "dpo"},
)
