"""The hand-written decode loop of ``HFPolicy.generate`` and ``generate_with_features``.

``decode_loop`` prefills each prompt once and shares its KV cache with its ``n`` continuations;
finished rows leave the batch; there is no per-step processor machinery (2-3x faster than
``model.generate`` for small models on CPU). ``pick_tokens`` samples by inverse CDF at uniforms
drawn up front (``draw_uniforms``: one generator per prompt when seeded), and ``ResponsePool`` pools
each response's final-layer hidden states while sampling. ``sampling_weights`` and
``packed_weights`` are the contexts a decode loop runs in.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from sealign.policy.anatomy import cache_kwargs, last_logits, left_pad, split_head
from sealign.records.types import TokenIds


def decode_loop(model, prompt_ids: list[TokenIds], n: int, temperature: float, top_p: float, max_new_tokens: int,
                seeds: list[int] | None, pooling: str | None, *, eos_id: int, pad_id: int,
                device: torch.device) -> tuple[list[list[TokenIds]], Tensor | None]:
    """``n`` responses per prompt sampled from ``model`` (``len(prompt_ids)`` lists of ``n``), and with
    ``pooling`` (``mean`` or ``last``) each response's pooled final hidden states ``[len(prompt_ids) * n, H]``
    (float32, on ``device``), or None where ``pooling`` is None or the head cannot be split off."""
    from transformers import DynamicCache

    model.eval()
    if seeds is not None and len(seeds) != len(prompt_ids):
        raise ValueError(f"generate() got {len(seeds)} seeds for {len(prompt_ids)} prompts")
    rows = len(prompt_ids) * n
    uniforms = None if temperature <= 0 else draw_uniforms(len(prompt_ids), n, max_new_tokens, seeds)
    ids, attention = left_pad(prompt_ids, pad_id, device)
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
    active = torch.arange(rows, device=device)  # batch row -> response index
    responses: list[TokenIds] = [[] for _ in range(rows)]
    for t in range(max_new_tokens):
        tokens = pick_tokens(logits, temperature, top_p, None if uniforms is None else uniforms[active.cpu(), t])
        for r, token in zip(active.tolist(), tokens.tolist()):
            responses[r].append(token)
        running = tokens != eos_id
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


def sampling_weights(network, model, is_lora: bool, device: torch.device, mixed_precision: str):
    """The context of a decode loop: a LoRA policy (``network``) sampling from itself (``model`` None)
    runs with its adapters merged into its linear weights (``adapters_merged``; in bfloat16 under bf16
    mixed precision), one matrix product a layer instead of three. Nothing changes for other networks,
    nor on a CPU in float32, where the two small products cost nothing measurable (SmolLM2-135M, r 16:
    10.4 s both ways) and the merged copy would add the weights' size to the memory while sampling."""
    if model is not None or not is_lora or (device.type == "cpu" and mixed_precision != "bf16"):
        return contextlib.nullcontext()
    from sealign.policy.lora import adapters_merged

    return adapters_merged(network, torch.bfloat16 if mixed_precision == "bf16" else None)


def packed_weights(network, device: torch.device, mixed_precision: str, rows: int):
    """The context of a decode loop on a CPU under bf16: the large linear layers of the sampling
    ``network`` run with oneDNN-packed weights (``packed_linears``). Not in float32: sampling gained
    1.33x there, but the learner step after it lost as much (measured in one process, alternating;
    bench/results/throughput.md), and fp32 runs keep their numerics."""
    if device.type != "cpu" or mixed_precision != "bf16":
        return contextlib.nullcontext()
    from sealign.policy.packed import packed_linears

    modules = network if isinstance(network, torch.nn.Module) else network.model  # an AdapterDisabled view
    return packed_linears(modules, torch.bfloat16 if mixed_precision == "bf16" else None, rows)
