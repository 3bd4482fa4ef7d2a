"""A policy over any `transformers` causal language model (local folder or Hub name): ``HFPolicy``.

The facade of the model layer: loading, text <-> token ids, the frozen and published weight copies,
and thin calls into the decode loop (``decode.py``) and the scoring passes (``scoring.py``), which
stand on the model's anatomy (``anatomy.py``). It implements ``base.TrainablePolicy``.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import torch
from safetensors import SafetensorError
from torch import Tensor

from sealign.errors import UserError, first_line
from sealign.policy import decode, scoring
from sealign.policy.anatomy import pick_device, store_frozen_linears, unwrap
from sealign.records.types import TokenIds


class HFPolicy:
    """Generation and sequence log-probabilities for a causal LM and its tokenizer.

    Prompts and responses travel as token ids so that what was sampled is exactly what is
    scored (re-tokenising decoded text can change the tokens). A response ends with the EOS
    token when the model stopped by itself, and that EOS is scored like any other token.
    """

    def __init__(self, model, tokenizer, device: str = "auto", mixed_precision: str = "no"):
        self.device = pick_device(device)
        self.model = model.to(self.device)
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_id: int = tokenizer.eos_token_id
        self.pad_id: int = tokenizer.pad_token_id
        from sealign.policy.hardware import mixed_precision_for

        self.mixed_precision = mixed_precision_for(mixed_precision, self.device)  # 'no' where bf16 cannot run
        if self.mixed_precision == "bf16" and self.device.type == "cpu":
            from sealign.policy.attention import use_cpu_bf16_attention

            use_cpu_bf16_attention(unwrap(self.model))
        self._initial = None  # the frozen initial policy, built once (``frozen_copy``)

    def autocast(self):
        """The context of every forward pass: bfloat16 autocast under ``mixed_precision='bf16'``.

        Within one context autocast casts each trained (fp32, leaf) weight once and reuses the
        cast, so a whole decode loop or a forward + backward pays one cast per weight.
        """
        if self.mixed_precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str = "auto", dtype: str = "float32",
                        mixed_precision: str = "no"):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the run has its own progress bar

        local = Path(name_or_path)
        looks_local = name_or_path.startswith((".", "/", "~")) or local.exists()
        if looks_local and (local.expanduser() / "adapter_config.json").exists():
            from sealign.policy.lora import load_adapter_folder  # a LoRA run's saved policy

            model, tokenizer = load_adapter_folder(local.expanduser(), getattr(torch, dtype))
            return cls(model, tokenizer, device, mixed_precision)
        if looks_local and not (local.expanduser() / "config.json").exists():
            raise UserError(
                f"model path {name_or_path!r} has no config.json; pass a folder written by "
                "save_pretrained, a Hub model name, or 'builtin'"
            )
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(local.expanduser()) if looks_local else name_or_path)
            model = AutoModelForCausalLM.from_pretrained(
                str(local.expanduser()) if looks_local else name_or_path, dtype=getattr(torch, dtype)
            )
        except (OSError, ValueError, SafetensorError) as err:  # missing files, no tokenizer, corrupt weights
            raise UserError(f"cannot load model {name_or_path!r}: {first_line(err)}") from err
        return cls(model, tokenizer, device, mixed_precision)

    # ------------------------------------------------------------------ text <-> ids
    def encode_prompts(self, texts: list[str]) -> list[TokenIds]:
        """Token ids of each prompt, through the chat template when the tokenizer has one."""
        if getattr(self.tokenizer, "chat_template", None):
            return [
                list(self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=True,
                    return_dict=False,
                ))
                for t in texts
            ]
        return [list(ids) for ids in self.tokenizer(texts)["input_ids"]]

    def encode_responses(self, texts: list[str]) -> list[TokenIds]:
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [list(x) + [self.eos_id] for x in ids]

    def decode(self, ids: TokenIds) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(
        self,
        prompt_ids: list[TokenIds],
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 32,
        model=None,
        seeds: list[int] | None = None,
    ) -> list[list[TokenIds]]:
        """``n`` responses per prompt, as token ids (greedy when temperature == 0).

        ``model`` samples from another network sharing this tokenizer (the reference policy).
        ``seeds`` (one per prompt) make each prompt's responses a function of its own seed only,
        not of the other prompts in the batch: the Ray runtime shards a batch over actors and
        still samples what one process samples. Without seeds the torch RNG is used.
        Returns a list of ``len(prompt_ids)`` lists of ``n`` responses each.

        A hand-written decode loop rather than ``model.generate``: each prompt is prefilled once
        and its KV cache shared by its ``n`` continuations, finished rows leave the batch, and
        there is no per-step processor machinery (2-3x faster for small models on CPU).
        """
        if not prompt_ids:
            return []
        with self.autocast(), self.sampling_weights(model), self.packed_weights(model, len(prompt_ids) * n):
            return self._decode_loop(prompt_ids, n, temperature, top_p, max_new_tokens, model, seeds, None)[0]

    def generate_with_features(
        self,
        prompt_ids: list[TokenIds],
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 32,
        seeds: list[int] | None = None,
        pooling: str = "mean",
    ) -> tuple[list[list[TokenIds]], Tensor | None]:
        """``generate`` from the policy itself, and the final-layer hidden states over each response
        pooled as ``pooled_hidden_states`` pools them (``mean`` or ``last``), taken from the sampling
        pass: ``[len(prompt_ids), n, H]`` float32 on the CPU.

        The features come almost free: the decode loop runs the backbone and the LM head separately
        and feeds each finished response's final token once more (its hidden state is part of the
        pool). None (and the same responses as ``generate``) when the model has no separate head.
        """
        if not prompt_ids:
            return [], None
        with torch.no_grad(), self.autocast(), self.sampling_weights(None), \
                self.packed_weights(None, len(prompt_ids) * n):
            responses, pooled = self._decode_loop(prompt_ids, n, temperature, top_p, max_new_tokens, None, seeds,
                                                  pooling)
        if pooled is not None:
            pooled = pooled.cpu().view(len(prompt_ids), n, -1)
        return responses, pooled

    def sampling_weights(self, model):
        """The context of a decode loop sampling from ``model`` (None: the policy itself): a LoRA policy
        sampling from itself merges its adapters (``decode.sampling_weights``)."""
        return decode.sampling_weights(self.model, model, self.is_lora, self.device, self.mixed_precision)

    def packed_weights(self, model, rows: int):
        """The context of a decode loop on a CPU under bf16: the sampling network's large linear layers
        run with oneDNN-packed weights (``decode.packed_weights``)."""
        return decode.packed_weights(self.model if model is None else model, self.device, self.mixed_precision, rows)

    def _decode_loop(self, prompt_ids, n, temperature, top_p, max_new_tokens, model, seeds,
                     pooling: str | None) -> tuple[list[list[TokenIds]], Tensor | None]:
        return decode.decode_loop(self.model if model is None else model, prompt_ids, n, temperature, top_p,
                                  max_new_tokens, seeds, pooling, eos_id=self.eos_id, pad_id=self.pad_id,
                                  device=self.device)

    # ------------------------------------------------------------------ scoring
    def sequence_logprobs(
        self, prompt_ids: list[TokenIds], response_ids: list[TokenIds], model=None
    ) -> tuple[Tensor, Tensor]:
        """Summed log pi(y|x) over the response tokens, and the response lengths.

        Padding and prompt tokens are masked out. Runs with gradients when the caller has them
        enabled. ``model`` scores with another network sharing this tokenizer (the reference).
        When prompts repeat (a DPO batch holds each prompt twice: chosen and rejected) each
        distinct prompt is run once and its KV cache shared by its responses.
        Returns ``(logps [B], lengths [B])``.
        """
        with self.autocast():
            return scoring.sequence_logprobs(model or self.model, prompt_ids, response_ids, self.pad_id, self.device)

    def enable_gradient_checkpointing(self) -> None:
        """transformers' gradient checkpointing on the policy (non-reentrant: LoRA needs no input grads)."""
        lm = unwrap(self.model)
        if not getattr(lm, "supports_gradient_checkpointing", False):
            raise UserError(f"{type(lm).__name__} does not support gradient checkpointing; "
                            "run without --gradient-checkpointing")
        if hasattr(lm, "activation_checkpointing_enable"):  # transformers >= 5.2x renamed it
            lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        lm._sealign_checkpointing = True

    @torch.no_grad()
    def pooled_hidden_states(self, prompt_ids: list[TokenIds], response_ids: list[TokenIds], model,
                             pooling: str = "mean") -> Tensor | None:
        """Final-layer hidden states of ``model``'s backbone over each response, pooled (``mean`` over
        the response tokens, or the ``last`` one), given its prompt: ``[B, H]`` float32.

        The features of the epistemic reward model. Each distinct prompt runs once and its KV cache
        is shared by its responses (M candidates per prompt: the prompt's tokens once, not M times).
        None when a response is empty or ``model`` has no separate backbone (use the full forward).
        """
        return scoring.pooled_hidden_states(model, prompt_ids, response_ids, pooling, self.pad_id, self.device,
                                            self.autocast)

    # ------------------------------------------------------------------ weights
    @property
    def is_lora(self) -> bool:
        """True when the network is a `peft` model with LoRA adapters (see sealign/policy/lora.py)."""
        return hasattr(self.model, "disable_adapter") and hasattr(self.model, "peft_config")

    def frozen_copy(self):
        """The frozen initial policy (the reference, the explorer's feature model): a detached copy
        of the network as it is at the first call, or for a LoRA policy the same network with its
        adapters disabled (no second copy of the weights). Built once and shared by every caller:
        a learner that moves its reference (``sync_reference``) makes its own copy first.
        Under bf16 mixed precision its linear weights are stored in bfloat16 (half the memory)."""
        if self._initial is None:
            self._initial = self.detached_copy()
        return self._initial

    def is_initial(self, model) -> bool:
        """True when ``model`` is the shared frozen initial policy of ``frozen_copy``."""
        return model is not None and model is self._initial

    def detached_copy(self):
        """A new frozen copy of the current network (a LoRA policy: its adapters-disabled view)."""
        if self.is_lora:
            from sealign.policy.lora import AdapterDisabled

            return AdapterDisabled(self.model)
        ref = copy.deepcopy(self.model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        if self.mixed_precision == "bf16":
            store_frozen_linears(ref, torch.bfloat16)
        return ref

    def trainable_state(self) -> dict[str, Tensor]:
        """The weights a learner changes (all of them, or only the LoRA adapters), on the CPU:
        what the learner publishes to the actors after each update."""
        return {name: p.detach().to("cpu", copy=True) for name, p in self.model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def load_trainable_state(self, state: dict[str, Tensor]) -> None:
        """Copy published weights (``trainable_state`` of an identically built policy) into place."""
        params = dict(self.model.named_parameters())
        missing = [name for name in state if name not in params]
        if missing:
            raise ValueError(f"published weights do not fit this policy (unknown: {missing[:3]})")
        for name, value in state.items():
            params[name].copy_(value.to(params[name].device))

    def save(self, path: str | Path) -> None:
        """``save_pretrained`` of the network (for a LoRA policy: its adapters) and the tokenizer."""
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
