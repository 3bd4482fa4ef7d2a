"""The anatomy of a `transformers` causal LM, and the shims over transformers versions.

Where the backbone and the LM head are (``unwrap``, ``backbone_of``, ``split_head``,
``backbone_and_head``), which keyword the KV cache takes (``cache_kwargs``), the last position's
logits alone (``last_logits``), frozen linear weights in low precision (``store_frozen_linears``),
left padding of prompts (``left_pad``) and whether a forward checkpoints its layers
(``checkpointing``). The decode loop (``decode.py``) and the scoring passes (``scoring.py``) both
stand on these; nothing here knows a policy.
"""

from __future__ import annotations

import functools
import inspect

import torch
from torch import Tensor

from sealign.records.types import TokenIds

LEAN_HEAD_MIN_VOCAB = 8192
"""From this vocabulary size on, scoring runs the backbone and applies the LM head at response
tokens only, in chunks (``head_logprobs``): the ``[B, T, V]`` logits of a real vocabulary (SmolLM2:
49k, 150 MB for 16 responses of 48 tokens in fp32, kept for the backward) are never built. Small
vocabularies (the built-in model: 404) keep the one-pass path."""

# Configuration fields that change the logits after the head (Gemma 2's soft-capping, Cohere's and
# Granite's logit scales): such models are scored through their own forward.
LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling")


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def unwrap(model):
    """The transformers model under a LoRA reference view (``AdapterDisabled``) or a peft wrapper."""
    while not isinstance(model, torch.nn.Module):
        model = model.model
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def backbone_of(model):
    """The module under ``model``'s LM head (its final hidden states), or None: a LoRA policy's
    backbone carries its adapters; the reference view (``AdapterDisabled``) runs it with them off."""
    lm = unwrap(model)
    backbone = model.base_model if not isinstance(model, torch.nn.Module) else lm.base_model
    return None if backbone is lm else backbone


def split_head(model):
    """``(backbone, head)`` of a causal LM whose logits are ``head(backbone(...).last_hidden_state)``,
    else None. A LoRA policy's backbone carries its adapters; the reference view
    (``AdapterDisabled``) gives its backbone with the adapters switched off."""
    lm = unwrap(model)
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    if not isinstance(head, torch.nn.Linear):
        return None
    if any(getattr(lm.config, name, None) not in (None, 1, 1.0) for name in LOGIT_TRANSFORMS):
        return None
    backbone = backbone_of(model)
    return None if backbone is None else (backbone, head)


def backbone_and_head(model):
    """``split_head(model)`` where the vocabulary is large enough for the lean scoring path to pay; else None."""
    split = split_head(model)
    return split if split is not None and split[1].out_features >= LEAN_HEAD_MIN_VOCAB else None


def last_logits(model, **inputs) -> Tensor:
    """The logits of the last position only, ``[B, V]`` in float32.

    A prefill needs no other, and with a real vocabulary (SmolLM2: 49k) the full ``[B, T, V]`` logits
    of a batch of prompts are hundreds of MB, kept for the backward pass when the learner scores.
    ``logits_to_keep`` computes the last row alone; a model whose forward lacks it computes them all.
    """
    try:
        return model(**inputs, logits_to_keep=1).logits[:, -1].float()
    except TypeError as err:
        if "logits_to_keep" not in str(err):
            raise
        return model(**inputs).logits[:, -1].float()


def cache_kwargs(model, cache) -> dict:
    """The KV-cache keywords of ``model``'s forward: current transformers name the cache ``cache``
    (passing ``past_key_values`` warns that it goes away), older ones only know ``past_key_values``."""
    return {cache_keyword(type(unwrap(model))): cache, "use_cache": True}


@functools.cache
def cache_keyword(model_class: type) -> str:
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


def store_frozen_linears(model: torch.nn.Module, dtype: torch.dtype) -> int:
    """Cast the weights (and biases) of ``model``'s frozen linear layers to ``dtype`` in place;
    returns how many layers changed.

    Under autocast a linear layer computes in the low precision anyway, so a frozen weight stored in
    it gives the same result without a cast on every call (autocast caches casts of trained leaf
    weights only). A weight shared with an embedding (a tied LM head) gets its own low-precision
    copy: the embedding, and so the residual stream, stay in full precision.
    """
    changed = 0
    for module in model.modules():
        if not isinstance(module, torch.nn.Linear) or module.weight.requires_grad:
            continue
        if module.weight.dtype == dtype:
            continue
        module.weight = torch.nn.Parameter(module.weight.detach().to(dtype), requires_grad=False)
        if module.bias is not None:
            module.bias = torch.nn.Parameter(module.bias.detach().to(dtype), requires_grad=False)
        changed += 1
    return changed


def left_pad(seqs: list[TokenIds], pad_id: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Token id sequences left-padded with ``pad_id`` to one width: ids and attention mask ``[B, W]`` on ``device``."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, width - len(s):] = torch.tensor(s)
        mask[row, width - len(s):] = 1
    return ids.to(device), mask.to(device)


def checkpointing(model) -> bool:
    """True when ``model``'s forward will checkpoint its layers (enabled, training, gradients on)."""
    lm = unwrap(model)
    return bool(torch.is_grad_enabled() and lm.training and getattr(lm, "_sealign_checkpointing", False))
