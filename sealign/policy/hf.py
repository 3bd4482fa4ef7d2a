"""A policy over any `transformers` causal language model (local folder or Hub name)."""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
from pathlib import Path

import torch
from safetensors import SafetensorError
from torch import Tensor

from sealign.errors import UserError, first_line

TokenIds = list[int]


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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
            return self._generate(prompt_ids, n, temperature, top_p, max_new_tokens, model, seeds)[0]

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
            responses, pooled = self._generate(prompt_ids, n, temperature, top_p, max_new_tokens, None, seeds,
                                               pooling)
        if pooled is not None:
            pooled = pooled.cpu().view(len(prompt_ids), n, -1)
        return responses, pooled

    def sampling_weights(self, model):
        """The context of a decode loop: a LoRA policy sampling from itself runs with its adapters merged
        into its linear weights (``adapters_merged``; in bfloat16 under bf16 mixed precision), one
        matrix product a layer instead of three. Nothing changes for other networks, nor on a CPU in
        float32, where the two small products cost nothing measurable (SmolLM2-135M, r 16: 10.4 s
        both ways) and the merged copy would add the weights' size to the memory while sampling."""
        if model is not None or not self.is_lora or (self.device.type == "cpu" and self.mixed_precision != "bf16"):
            return contextlib.nullcontext()
        from sealign.policy.lora import adapters_merged

        return adapters_merged(self.model, torch.bfloat16 if self.mixed_precision == "bf16" else None)

    def packed_weights(self, model, rows: int):
        """The context of a decode loop on a CPU under bf16: the large linear layers of the sampling
        network (``model`` or the policy) run with oneDNN-packed weights (``packed_linears``). Not in
        float32: sampling gained 1.33x there, but the learner step after it lost as much (measured
        in one process, alternating; bench/results/throughput.md), and fp32 runs keep their numerics."""
        if self.device.type != "cpu" or self.mixed_precision != "bf16":
            return contextlib.nullcontext()
        from sealign.policy.packed import packed_linears

        network = self.model if model is None else model
        modules = network if isinstance(network, torch.nn.Module) else network.model  # an AdapterDisabled view
        return packed_linears(modules, torch.bfloat16 if self.mixed_precision == "bf16" else None, rows)

    def _generate(self, prompt_ids, n, temperature, top_p, max_new_tokens, model, seeds,
                  pooling: str | None = None) -> tuple[list[list[TokenIds]], Tensor | None]:
        from transformers import DynamicCache

        model = self.model if model is None else model
        model.eval()
        if seeds is not None and len(seeds) != len(prompt_ids):
            raise ValueError(f"generate() got {len(seeds)} seeds for {len(prompt_ids)} prompts")
        rows = len(prompt_ids) * n
        uniforms = None if temperature <= 0 else draw_uniforms(len(prompt_ids), n, max_new_tokens, seeds)
        ids, attention = self._left_pad(prompt_ids)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        split = split_head(model) if pooling else None  # None: sampled without features
        pool = ResponsePool(rows, split, pooling) if split is not None else None
        if pool is not None:
            logits = pool.prefill_logits(input_ids=ids, attention_mask=attention, position_ids=positions,
                                         **cache_kwargs(model, cache))
        else:
            logits = last_logits(model, input_ids=ids, attention_mask=attention, position_ids=positions,
                                 **cache_kwargs(model, cache))
        if n > 1:  # the n continuations of a prompt share its prefilled cache
            cache.batch_repeat_interleave(n)
            logits, attention = logits.repeat_interleave(n, 0), attention.repeat_interleave(n, 0)
            positions = positions.repeat_interleave(n, 0)
        next_position = positions[:, -1:] + 1
        active = torch.arange(rows, device=self.device)  # batch row -> response index
        responses: list[TokenIds] = [[] for _ in range(rows)]
        for t in range(max_new_tokens):
            tokens = pick_tokens(logits, temperature, top_p, None if uniforms is None else uniforms[active.cpu(), t])
            for r, token in zip(active.tolist(), tokens.tolist()):
                responses[r].append(token)
            running = tokens != self.eos_id
            last_step = t == max_new_tokens - 1 or not running.any()
            hidden = None
            if pool is not None:  # every sampled token is fed once, the final ones too: its state joins the pool
                hidden = pool.feed(active, input_ids=tokens[:, None],
                                   attention_mask=torch.cat([attention, attention.new_ones(len(active), 1)], 1),
                                   position_ids=next_position, **cache_kwargs(model, cache))
            if last_step:
                break
            if not running.all():  # finished rows leave the batch (and the cache)
                keep = running.nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                active, tokens = active[keep], tokens[keep]
                attention, next_position = attention[keep], next_position[keep]
                hidden = None if hidden is None else hidden[keep]
            attention = torch.cat([attention, attention.new_ones(len(active), 1)], 1)
            if hidden is not None:
                logits = pool.head(hidden).float()
            else:
                logits = model(input_ids=tokens[:, None], attention_mask=attention, position_ids=next_position,
                               **cache_kwargs(model, cache)).logits[:, -1].float()
            next_position = next_position + 1
        grouped = [responses[i * n:(i + 1) * n] for i in range(len(prompt_ids))]
        return grouped, None if pool is None else pool.pooled()

    def _left_pad(self, seqs: list[TokenIds]) -> tuple[Tensor, Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, s in enumerate(seqs):
            ids[row, width - len(s):] = torch.tensor(s)
            mask[row, width - len(s):] = 1
        return ids.to(self.device), mask.to(self.device)

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
            return self._sequence_logprobs(prompt_ids, response_ids, model or self.model)

    def _sequence_logprobs(self, prompt_ids, response_ids, model) -> tuple[Tensor, Tensor]:
        unique: dict[tuple[int, ...], int] = {}
        owner = [unique.setdefault(tuple(p), len(unique)) for p in prompt_ids]
        # a checkpointed layer runs again in the backward pass and would append to the shared cache twice
        if len(unique) < len(prompt_ids) and all(response_ids) and not self.checkpointing(model):
            return self._by_length_chunks(list(unique), owner, response_ids, model)
        ids, attention, response_mask = self._right_padded(prompt_ids, response_ids)
        split = backbone_and_head(model)
        if split is not None:  # a large vocabulary: the LM head only where a response token is predicted
            backbone, head = split
            hidden = backbone(input_ids=ids, attention_mask=attention, use_cache=False).last_hidden_state  # [B, T, H]
            predicts = response_mask[:, 1:]  # position t predicts token t + 1
            token_logps = head_logprobs(hidden[:, :-1][predicts], head, ids[:, 1:][predicts])  # [N]
            rows = predicts.nonzero()[:, 0]
            return token_logps.new_zeros(len(ids)).index_add(0, rows, token_logps), predicts.sum(-1)
        logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
        targets = ids[:, 1:]
        mask = response_mask[:, 1:]
        # log_softmax gathered at the targets, without materialising [B, T, V] log-probs twice.
        token_logps = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)
        token_logps = token_logps * mask
        return token_logps.sum(-1), mask.sum(-1)

    def _right_padded(self, prompt_ids, response_ids) -> tuple[Tensor, Tensor, Tensor]:
        """Each prompt + response as one right-padded row: ids, attention mask and response mask ``[B, T]``."""
        seqs = [list(p) + list(r) for p, r in zip(prompt_ids, response_ids)]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        response_mask = torch.zeros((len(seqs), width), dtype=torch.bool)
        for row, (p, s) in enumerate(zip(prompt_ids, seqs)):
            ids[row, :len(s)] = torch.tensor(s)
            attention[row, :len(s)] = 1
            response_mask[row, len(p):len(s)] = True
        return ids.to(self.device), attention.to(self.device), response_mask.to(self.device)

    def checkpointing(self, model) -> bool:
        """True when ``model``'s forward will checkpoint its layers (enabled, training, gradients on)."""
        lm = unwrap(model)
        return bool(torch.is_grad_enabled() and lm.training and getattr(lm, "_sealign_checkpointing", False))

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

    def _by_length_chunks(self, prompts: list[tuple[int, ...]], owner: list[int], response_ids: list[TokenIds],
                          model, rows_per_chunk: int = 32) -> tuple[Tensor, Tensor]:
        """Shared-prompt scoring in chunks of prompts with similar response lengths, so that short
        responses are not padded to the longest one of the batch (most of the compute otherwise)."""
        rows_of: dict[int, list[int]] = {}
        for row, u in enumerate(owner):
            rows_of.setdefault(u, []).append(row)
        groups = sorted(rows_of.values(), key=lambda rows: max(len(response_ids[r]) for r in rows))
        chunks: list[list[int]] = [[]]
        for rows in groups:
            if len(chunks[-1]) >= rows_per_chunk:
                chunks.append([])
            chunks[-1].extend(rows)
        logps, lengths = [], []
        for rows in chunks:
            local: dict[int, int] = {}
            chunk_owner = [local.setdefault(owner[r], len(local)) for r in rows]
            chunk_prompts = [list(prompts[u]) for u in local]
            lp, n = self._shared_prompt_logprobs(chunk_prompts, chunk_owner, [response_ids[r] for r in rows], model)
            logps.append(lp)
            lengths.append(n)
        order = torch.tensor([r for rows in chunks for r in rows], device=self.device).argsort()
        return torch.cat(logps)[order], torch.cat(lengths)[order]

    def _shared_prompt_logprobs(self, prompts: list[TokenIds], owner: list[int], response_ids: list[TokenIds],
                                model) -> tuple[Tensor, Tensor]:
        """``sequence_logprobs`` with each of the U distinct prompts run once (left-padded to
        [U, Wp]), its cache gathered for the B responses (right-padded to [B, Wr]). Gradients
        flow through the shared cache into the prompt pass."""
        from transformers import DynamicCache

        prompt_ids, prompt_mask = self._left_pad(prompts)
        prompt_positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        split = backbone_and_head(model)
        if split is not None:  # a large vocabulary: hidden states now, the head only at response tokens
            backbone, head = split
            last = backbone(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=prompt_positions,
                            **cache_kwargs(model, cache)).last_hidden_state[:, -1]  # [U, H]: predicts token 0
        else:
            last = last_logits(model, input_ids=prompt_ids, attention_mask=prompt_mask,
                               position_ids=prompt_positions, **cache_kwargs(model, cache))  # [U, V]
        index = torch.tensor(owner, device=self.device)
        cache.batch_select_indices(index)
        ids, mask, positions, attention = self._after_prompts(response_ids, prompt_mask, prompt_positions, index)
        if split is not None:
            hidden = backbone(input_ids=ids, attention_mask=attention, position_ids=positions,
                              **cache_kwargs(model, cache)).last_hidden_state[:, :-1]
            hidden = torch.cat([last[index].unsqueeze(1), hidden], 1)  # [B, Wr, H]: predicts each response token
            token_logps = head_logprobs(hidden[mask], head, ids[mask])  # [N], N = response tokens
            rows = mask.nonzero()[:, 0]
            return token_logps.new_zeros(len(response_ids)).index_add(0, rows, token_logps), mask.sum(-1)
        logits = model(input_ids=ids, attention_mask=attention, position_ids=positions,
                       **cache_kwargs(model, cache)).logits[:, :-1].float()
        logits = torch.cat([last[index].unsqueeze(1), logits], 1)  # [B, Wr, V]: the logits of each response token
        token_logps = (logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)) * mask
        return token_logps.sum(-1), mask.sum(-1)

    def _after_prompts(self, response_ids: list[TokenIds], prompt_mask: Tensor, prompt_positions: Tensor,
                       index: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The inputs that continue left-padded prompts ``[U, Wp]`` (their KV cache already gathered by
        ``index [B]``) with the B responses, right-padded to ``[B, Wr]``: ids, response mask,
        position ids, and the attention mask over prompt + response ``[B, Wp + Wr]``."""
        width = max(len(r) for r in response_ids)
        ids = torch.full((len(response_ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(response_ids), width), dtype=torch.bool)
        for row, r in enumerate(response_ids):
            ids[row, : len(r)] = torch.tensor(r)
            mask[row, : len(r)] = True
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = prompt_positions[index, -1:] + 1 + torch.arange(width, device=self.device)
        return ids, mask, positions, torch.cat([prompt_mask[index], mask.long()], 1)

    @torch.no_grad()
    def pooled_hidden_states(self, prompt_ids: list[TokenIds], response_ids: list[TokenIds], model,
                             pooling: str = "mean") -> Tensor | None:
        """Final-layer hidden states of ``model``'s backbone over each response, pooled (``mean`` over
        the response tokens, or the ``last`` one), given its prompt: ``[B, H]`` float32.

        The features of the epistemic reward model. Each distinct prompt runs once and its KV cache
        is shared by its responses (M candidates per prompt: the prompt's tokens once, not M times).
        None when a response is empty or ``model`` has no separate backbone (use the full forward).
        """
        backbone = backbone_of(model)
        if backbone is None or not all(response_ids):
            return None
        from transformers import DynamicCache

        unique: dict[tuple[int, ...], int] = {}
        owner = [unique.setdefault(tuple(p), len(unique)) for p in prompt_ids]
        with self.autocast():
            prompts, prompt_mask = self._left_pad([list(p) for p in unique])
            prompt_positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
            cache = DynamicCache()
            backbone(input_ids=prompts, attention_mask=prompt_mask, position_ids=prompt_positions,
                     **cache_kwargs(model, cache))
            index = torch.tensor(owner, device=self.device)
            cache.batch_select_indices(index)
            ids, mask, positions, attention = self._after_prompts(response_ids, prompt_mask, prompt_positions, index)
            hidden = backbone(input_ids=ids, attention_mask=attention, position_ids=positions,
                              **cache_kwargs(model, cache)).last_hidden_state.float()  # [B, Wr, H]
        if pooling == "last":
            return hidden[torch.arange(len(response_ids), device=self.device), mask.sum(-1) - 1]
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1)

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


LEAN_HEAD_MIN_VOCAB = 8192
"""From this vocabulary size on, scoring runs the backbone and applies the LM head at response
tokens only, in chunks (``head_logprobs``): the ``[B, T, V]`` logits of a real vocabulary (SmolLM2:
49k, 150 MB for 16 responses of 48 tokens in fp32, kept for the backward) are never built. Small
vocabularies (the built-in model: 404) keep the one-pass path."""

# Configuration fields that change the logits after the head (Gemma 2's soft-capping, Cohere's and
# Granite's logit scales): such models are scored through their own forward.
LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling")


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


class ResponsePool:
    """The running pool of each sampled response's final-layer hidden states, kept by the decode loop
    (``HFPolicy.generate_with_features``): sums and last states ``[rows, H]`` in float32.

    ``split`` is ``split_head(model)``: ``(backbone, head)``.
    """

    def __init__(self, rows: int, split, pooling: str):
        if pooling not in ("mean", "last"):
            raise ValueError(f"pooling must be 'mean' or 'last' (got {pooling!r})")
        self.split, self.pooling, self.rows = split, pooling, rows
        self.sums = self.last = self.counts = None

    @property
    def head(self):
        return self.split[1]

    def prefill_logits(self, **inputs) -> Tensor:
        """The prompts' pass (not pooled: the prompt is context): the last position's logits ``[P, V]``."""
        backbone, head = self.split
        return head(backbone(**inputs).last_hidden_state[:, -1]).float()

    def feed(self, active: Tensor, **inputs) -> Tensor:
        """One decode step of the backbone for the batch rows ``active [R]``; pools and returns their
        hidden states ``[R, H]`` (in the forward's dtype)."""
        hidden = self.split[0](**inputs).last_hidden_state[:, -1]
        state = hidden.float()
        if self.sums is None:
            self.sums = state.new_zeros(self.rows, state.shape[-1])
            self.last = state.new_zeros(self.rows, state.shape[-1])
            self.counts = state.new_zeros(self.rows, 1)
        self.sums.index_add_(0, active, state)
        self.counts.index_add_(0, active, state.new_ones(len(active), 1))
        self.last[active] = state
        return hidden

    def pooled(self) -> Tensor:
        """``[rows, H]``: the mean over each response's tokens, or its final token's state."""
        if self.pooling == "last":
            return self.last
        return self.sums / self.counts.clamp_min(1.0)


def head_logprobs(hidden: Tensor, head: torch.nn.Linear, targets: Tensor, chunk_tokens: int = 256) -> Tensor:
    """``log softmax(head(hidden))[targets]`` for ``hidden [N, H]`` and ``targets [N]`` -> ``[N]`` (fp32).

    The head runs on ``chunk_tokens`` rows at a time; with gradients each chunk is checkpointed, so
    its ``[chunk, V]`` logits are rebuilt in the backward pass instead of kept (one more head
    matmul per chunk; the memory of the logits drops from ``N x V`` to ``chunk x V``).
    """
    from torch.utils.checkpoint import checkpoint

    def chunk_logps(h: Tensor, t: Tensor) -> Tensor:
        logits = head(h).float()
        return logits.gather(-1, t.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)

    parts = []
    for start in range(0, len(targets), chunk_tokens):
        h, t = hidden[start:start + chunk_tokens], targets[start:start + chunk_tokens]
        parts.append(checkpoint(chunk_logps, h, t, use_reentrant=False) if torch.is_grad_enabled() and h.requires_grad
                     else chunk_logps(h, t))
    return torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)


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


def unwrap(model):
    """The transformers model under a LoRA reference view (``AdapterDisabled``) or a peft wrapper."""
    while not isinstance(model, torch.nn.Module):
        model = model.model
    return model.get_base_model() if hasattr(model, "get_base_model") else model


@functools.cache
def cache_keyword(model_class: type) -> str:
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


def draw_uniforms(num_prompts: int, n: int, max_new_tokens: int, seeds: list[int] | None) -> Tensor:
    """Uniform numbers ``[num_prompts * n, max_new_tokens]`` (float64) that drive the sampling:
    one generator per prompt when ``seeds`` are given, else the torch RNG."""
    if seeds is None:
        return torch.rand(num_prompts * n, max_new_tokens, dtype=torch.float64)
    return torch.cat([
        torch.rand(n, max_new_tokens, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        for seed in seeds
    ])


def pick_tokens(logits: Tensor, temperature: float, top_p: float, uniforms: Tensor | None) -> Tensor:
    """Next tokens ``[R]`` from ``logits [R, V]``: argmax at temperature 0, else inverse-CDF
    sampling of softmax(logits / temperature) within the top-p nucleus at ``uniforms [R]``."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.double() / temperature, -1)
    order = None
    if top_p < 1.0:
        probs, order = probs.sort(-1, descending=True)
        probs = probs * ((probs.cumsum(-1) - probs) < top_p)  # keep the smallest prefix reaching top_p
    cdf = probs.cumsum(-1)
    target = (uniforms.to(cdf.device) * cdf[:, -1]).unsqueeze(-1)
    index = torch.searchsorted(cdf, target, right=True).clamp(max=probs.shape[-1] - 1)  # never a zero-prob token
    return index.squeeze(-1) if order is None else order.gather(-1, index).squeeze(-1)
