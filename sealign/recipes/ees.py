from sealign.recipes.recipe import Recipe

RECIPE = Recipe(
    name="ees",
    summary="Efficient exploration at scale: reward model and policy both updated every batch; 16 samples "
            "per prompt; reinforce with reward-model signals on the query pair and the (highest, lowest) "
            "pair, then on a query-free batch's ranked pairs; an EMA anchor and an affirmative nudge "
            "(--explorer ids: information-directed queries).",
    reference="Asghari et al. 2026 sec. 4.2-4.3.3",
    settings={"schedule": "online", "explorer": "ensemble-passive", "num_candidates": 16, "loss": "reinforce",
              "policy_signal": "reward-model", "query_free_batch": True, "nudge": 0.1, "anchor_weight": 0.1,
              "anchor_tau": 0.01,
              # Reinforce gradients are unnormalised (|signal| * grad lp, always clipped here), so the
              # DPO learning rate tanks the policy within ~500 queries; 3e-5 learns steadily
              # (bench/results/recipes.md).
              "lr": 3e-5},
)
