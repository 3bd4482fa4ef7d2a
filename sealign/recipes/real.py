from sealign.recipes.recipe import Recipe

# CPU-friendly settings for a real pretrained model: LoRA adapters (r 16) keep the update small and
# the reference free (the base model); at lr 2e-4 the policy moves within ~200 queries, while the
# full-model learning rates of the papers (5e-7) move nothing in so few steps. An earlier run of these
# settings on SmolLM2 reached a 0.73 win rate after 192 queries (~7.5 min on 2 cores).
RECIPE = Recipe(
    name="real",
    summary="Online DPO on a real pretrained model on CPU: SmolLM2-135M with LoRA learns the constraints task.",
    reference="Guo et al. 2024 (OAIF) on an IFEval-like task; docs/real-models.md",
    settings={"schedule": "online", "explorer": "passive", "loss": "dpo", "policy": "smollm2-135m",
              "task": "constraints", "lora_r": 16, "lora_alpha": 16, "lr": 2e-4, "batch_size": 8,
              "micro_batch_size": 8, "num_candidates": 2, "max_new_tokens": 48, "budget": 192,
              "num_eval_prompts": 32, "eval_every": 4},
    # The three methods of bench/results/real_model.md on this model and task, one flag apart.
    variants={1: {"explorer": "passive"},  # passive online DPO
              2: {"explorer": "sea-ee", "erm_sync": 0.3, "num_candidates": 4},  # SEA (Table 1 row 3)
              3: {"schedule": "offline"}},  # offline DPO: SFT samples labelled first, one training round
    default_variant=1,
)
