from sealign.recipes.recipe import Recipe

# CPU-friendly settings for a real pretrained model: LoRA adapters (r 16) keep the update small and
# the reference free (the base model). The adapters start at zero, so a few dozen Adam steps at the
# papers' full-model learning rates (5e-7) move nothing, and 2e-4 too little on this task: 1e-3 moves
# the policy within ~128 queries (bench/results/real_model.md). The constraints are checked by rule, so
# the oracle is the rule itself: a pair that meets the constraints equally well is a tie, which DPO
# skips, instead of a Bradley-Terry coin flip that it would learn as if it were a preference.
RECIPE = Recipe(
    name="real",
    summary="Online DPO on a real pretrained model on CPU: SmolLM2-135M with LoRA learns the constraints task.",
    reference="Guo et al. 2024 (OAIF) on an IFEval-like task; docs/real-models.md",
    settings={"schedule": "online", "explorer": "passive", "loss": "dpo", "policy": "smollm2-135m",
              "task": "constraints", "oracle": "rule", "lora_r": 16, "lora_alpha": 16, "lr": 1e-3,
              "batch_size": 8, "micro_batch_size": 8, "num_candidates": 2, "max_new_tokens": 48, "budget": 512,
              "num_eval_prompts": 64, "eval_every": 16},
    # The three methods of bench/results/real_model.md on this model and task, one flag apart.
    variants={1: {"explorer": "passive"},  # passive online DPO
              2: {"explorer": "sea-ee", "erm_sync": 0.3, "num_candidates": 4},  # SEA (Table 1 row 3)
              3: {"schedule": "offline", "offline_epochs": 1}},  # offline DPO: SmolLM2 samples labelled first,
    # then one epoch: as many updates as online DPO makes (3 epochs at lr 1e-3 memorise 512 pairs)
    default_variant=1,
)
