"""What the rest of sealign asks of a policy: ``Policy``, and ``TrainablePolicy`` for the one that learns.

Prompts and responses travel as token ids (``TokenIds``), so what was sampled is exactly what is
scored. A response ends with the EOS token when the model stopped by itself. ``B`` below is the
number of (prompt, response) rows, ``H`` the hidden size.

``HFPolicy`` (``hf.py``) implements both. ``VLLMPolicy`` (``vllm.py``) implements ``Policy`` for the
actor: it samples and takes published weights, and says plainly what it cannot do (score, copy,
save, hand out its weights, sample from another network, give features).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from sealign.records.types import TokenIds


class Policy(Protocol):
    """A policy the actor, the evaluator, the explorers and the loop use, whatever runs it."""

    device: torch.device
    """Where its tensors (log-probabilities, pooled states before ``.cpu()``) live."""

    def encode_prompts(self, texts: list[str]) -> list[TokenIds]:
        """Token ids of each prompt, through the chat template when the tokenizer has one."""
        ...

    def encode_responses(self, texts: list[str]) -> list[TokenIds]:
        """Token ids of each response text, EOS appended (as a response the model ended by itself)."""
        ...

    def decode(self, ids: TokenIds) -> str:
        """The text of a response's ids, special tokens dropped, stripped."""
        ...

    def generate(self, prompt_ids: list[TokenIds], n: int = 1, temperature: float = 1.0, top_p: float = 1.0,
                 max_new_tokens: int = 32, model=None, seeds: list[int] | None = None) -> list[list[TokenIds]]:
        """``n`` responses per prompt: ``len(prompt_ids)`` lists of ``n`` (greedy at temperature 0).

        ``model`` samples from another network sharing the tokenizer (the reference). ``seeds`` (one
        per prompt) make a prompt's responses depend on its own seed only, not on the batch.
        """
        ...

    def generate_with_features(self, prompt_ids: list[TokenIds], n: int = 1, temperature: float = 1.0,
                               top_p: float = 1.0, max_new_tokens: int = 32, seeds: list[int] | None = None,
                               pooling: str = "mean") -> tuple[list[list[TokenIds]], Tensor | None]:
        """``generate`` from the policy itself, and each response's final-layer hidden states pooled
        (``mean`` or ``last``) from the sampling pass: ``[len(prompt_ids), n, H]`` float32 on the CPU.

        The features are None where this policy cannot give them (its model has no separate LM head,
        or the backend does not expose hidden states); the responses are then those of ``generate``.
        """
        ...

    def sequence_logprobs(self, prompt_ids: list[TokenIds], response_ids: list[TokenIds],
                          model=None) -> tuple[Tensor, Tensor]:
        """``(logps [B], lengths [B])``: summed log pi(y|x) over each response's tokens (prompt and
        padding masked out), and the number of response tokens. With gradients when the caller has
        them enabled; ``model`` scores with another network sharing the tokenizer (the reference)."""
        ...

    def trainable_state(self) -> dict[str, Tensor]:
        """The weights a learner changes (all, or only LoRA adapters), on the CPU: what it publishes."""
        ...

    def load_trainable_state(self, state: dict[str, Tensor]) -> None:
        """Take published weights (``trainable_state`` of an identically built policy)."""
        ...

    def frozen_copy(self):
        """The frozen initial network (the reference, the explorer's feature model), built once and shared."""
        ...

    def save(self, path: str | Path) -> None:
        """Write the policy (``save_pretrained``: the network or its adapters, and the tokenizer)."""
        ...


class TrainablePolicy(Policy, Protocol):
    """A policy whose torch network lives in this process and learns in place (the learner's, the
    driver's): the learner steps ``model``'s parameters, and the explorer's features run its backbone."""

    model: torch.nn.Module
    """The network (a LoRA policy: the `peft` model)."""

    pad_id: int

    @property
    def is_lora(self) -> bool:
        """True when only LoRA adapters train (the reference is the network with them disabled)."""
        ...

    def autocast(self):
        """The context of every forward pass (bfloat16 autocast under bf16 mixed precision)."""
        ...

    def is_initial(self, model) -> bool:
        """True when ``model`` is the shared ``frozen_copy``."""
        ...

    def detached_copy(self):
        """A new frozen copy of the current network (a LoRA policy: its adapters-disabled view)."""
        ...

    def pooled_hidden_states(self, prompt_ids: list[TokenIds], response_ids: list[TokenIds], model,
                             pooling: str = "mean") -> Tensor | None:
        """``model``'s final hidden states over each response given its prompt, pooled: ``[B, H]``
        float32; None where this pass cannot serve (an empty response, no separate backbone)."""
        ...
