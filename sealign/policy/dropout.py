"""Dropout off in the learner's passes, as TRL's DPO does by default (its ``disable_dropout``).

The learner scores in ``train()`` mode (gradient checkpointing needs it), so a model's own dropout is
live there: GPT-2 and OPT ship with 0.1. Both log-probabilities of DPO's margin then carry dropout
noise (with LoRA the reference is the same network with its adapters off, so it does too), the margin
is nonzero at step 0 with policy == reference, and DPO learns from the noise. ``disable_dropout``
sets every dropout probability of the model to 0 once, when the learner is built; ``--keep-dropout``
skips it. LoRA's own dropout (``--lora-dropout``, asked for by name, on the adapters only) is kept.
"""

from __future__ import annotations

import torch


def disable_dropout(model: torch.nn.Module) -> int:
    """Set to 0 the probability of every ``nn.Dropout`` in ``model`` and every float attribute that
    a functional dropout reads (``dropout``, ``attention_dropout``, ``layerdrop``: OPT, Llama),
    LoRA adapters' dropout aside; returns how many were above 0."""
    adapters = {id(module) for owner in model.modules() if isinstance(getattr(owner, "lora_dropout", None),
                                                                          torch.nn.ModuleDict)
                for module in owner.lora_dropout.values()}
    changed = 0
    for module in model.modules():
        if id(module) in adapters:
            continue
        if isinstance(module, torch.nn.modules.dropout._DropoutNd):  # Dropout, Dropout1d-3d, AlphaDropout
            changed += module.p > 0
            module.p = 0.0
            continue
        for name, value in list(vars(module).items()):
            if is_dropout_probability(name, value):
                changed += value > 0
                setattr(module, name, 0.0)
    return changed


def is_dropout_probability(name: str, value) -> bool:
    """A module attribute transformers' layers pass to ``nn.functional.dropout`` (or use to skip layers)."""
    return (name.endswith("dropout") or name == "layerdrop") and isinstance(value, float)
