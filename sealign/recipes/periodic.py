from sealign.recipes import Recipe

RECIPE = Recipe(
    name="periodic",
    summary="Periodic RLHF baseline: the budget is collected in rounds, the policy retrained on all data "
            "after each; between rounds it does not change.",
    reference="paper 003 sec. 4.3 (periodic RLHF baseline)",
    settings={"schedule": "iterative", "rounds": 4, "round_data": "all", "round_init": "last",
              "round_reference": "sft", "explorer": "passive", "loss": "dpo"},
)
