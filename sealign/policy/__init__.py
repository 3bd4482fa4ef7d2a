"""Policies: the `base.Policy` protocol, `hf.HFPolicy` (transformers; CPU or GPU), LoRA adapters (`lora`),
vLLM generation (`vllm`)."""

from __future__ import annotations


def load_policy(config, path: str):
    """The run's policy from ``path`` (folder or Hub name), with LoRA adapters when
    ``config.lora_r > 0``. Every process of a run (the Ray runtime's too) builds it this way."""
    import torch

    from sealign.policy.anatomy import store_frozen_linears
    from sealign.policy.hf import HFPolicy

    policy = HFPolicy.from_pretrained(path, config.device, config.dtype, config.mixed_precision)
    if config.lora_r > 0:
        from sealign.policy.lora import add_lora

        policy.model = add_lora(policy.model, config.lora_r, config.lora_alpha, config.lora_dropout,
                                config.lora_targets, config.seed)
        if policy.mixed_precision == "bf16":  # the frozen base in bf16; the adapters train in fp32
            store_frozen_linears(policy.model, torch.bfloat16)
    if getattr(config, "gradient_checkpointing", False):
        policy.enable_gradient_checkpointing()
    return policy
