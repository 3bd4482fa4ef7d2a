"""Scoring passes of ``HFPolicy``: summed response log-probabilities, and pooled response hidden states.

``sequence_logprobs`` runs each distinct prompt once and shares its KV cache with its responses
(a DPO batch holds each prompt twice), in chunks of prompts with similar response lengths; a
checkpointed forward scores prompt + response rows instead. From ``LEAN_HEAD_MIN_VOCAB`` tokens on
the LM head runs only at response tokens, in checkpointed chunks (``head_logprobs``).
``pooled_hidden_states`` is the same shared-prompt pass through the backbone alone (the explorer's
features).
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from sealign.policy.anatomy import backbone_and_head, backbone_of, cache_kwargs, checkpointing, last_logits, left_pad
from sealign.records.types import TokenIds


def sequence_logprobs(model, prompt_ids: list[TokenIds], response_ids: list[TokenIds], pad_id: int,
                      device: torch.device) -> tuple[Tensor, Tensor]:
    """Summed log pi(y|x) of ``model`` over each response's tokens, and the response lengths:
    ``(logps [B], lengths [B])`` on ``device``, with gradients when the caller has them enabled."""
    unique: dict[tuple[int, ...], int] = {}
    owner = [unique.setdefault(tuple(p), len(unique)) for p in prompt_ids]
    # a checkpointed layer runs again in the backward pass and would append to the shared cache twice
    if len(unique) < len(prompt_ids) and all(response_ids) and not checkpointing(model):
        return _by_length_chunks(list(unique), owner, response_ids, model, pad_id, device)
    ids, attention, response_mask = _right_padded(prompt_ids, response_ids, pad_id, device)
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


def _right_padded(prompt_ids, response_ids, pad_id: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Each prompt + response as one right-padded row: ids, attention mask and response mask ``[B, T]``."""
    seqs = [list(p) + list(r) for p, r in zip(prompt_ids, response_ids)]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(seqs), width), dtype=torch.long)
    response_mask = torch.zeros((len(seqs), width), dtype=torch.bool)
    for row, (p, s) in enumerate(zip(prompt_ids, seqs)):
        ids[row, :len(s)] = torch.tensor(s)
        attention[row, :len(s)] = 1
        response_mask[row, len(p):len(s)] = True
    return ids.to(device), attention.to(device), response_mask.to(device)


def _by_length_chunks(prompts: list[tuple[int, ...]], owner: list[int], response_ids: list[TokenIds], model,
                      pad_id: int, device: torch.device, rows_per_chunk: int = 32) -> tuple[Tensor, Tensor]:
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
        lp, n = _shared_prompt_logprobs(chunk_prompts, chunk_owner, [response_ids[r] for r in rows], model,
                                        pad_id, device)
        logps.append(lp)
        lengths.append(n)
    order = torch.tensor([r for rows in chunks for r in rows], device=device).argsort()
    return torch.cat(logps)[order], torch.cat(lengths)[order]


def _shared_prompt_logprobs(prompts: list[TokenIds], owner: list[int], response_ids: list[TokenIds], model,
                            pad_id: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """``sequence_logprobs`` with each of the U distinct prompts run once (left-padded to
    [U, Wp]), its cache gathered for the B responses (right-padded to [B, Wr]). Gradients
    flow through the shared cache into the prompt pass."""
    from transformers import DynamicCache

    prompt_ids, prompt_mask = left_pad(prompts, pad_id, device)
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
    index = torch.tensor(owner, device=device)
    cache.batch_select_indices(index)
    ids, mask, positions, attention = _after_prompts(response_ids, prompt_mask, prompt_positions, index, pad_id,
                                                     device)
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


def _after_prompts(response_ids: list[TokenIds], prompt_mask: Tensor, prompt_positions: Tensor, index: Tensor,
                   pad_id: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The inputs that continue left-padded prompts ``[U, Wp]`` (their KV cache already gathered by
    ``index [B]``) with the B responses, right-padded to ``[B, Wr]``: ids, response mask,
    position ids, and the attention mask over prompt + response ``[B, Wp + Wr]``."""
    width = max(len(r) for r in response_ids)
    ids = torch.full((len(response_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(response_ids), width), dtype=torch.bool)
    for row, r in enumerate(response_ids):
        ids[row, : len(r)] = torch.tensor(r)
        mask[row, : len(r)] = True
    ids, mask = ids.to(device), mask.to(device)
    positions = prompt_positions[index, -1:] + 1 + torch.arange(width, device=device)
    return ids, mask, positions, torch.cat([prompt_mask[index], mask.long()], 1)


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


def pooled_hidden_states(model, prompt_ids: list[TokenIds], response_ids: list[TokenIds], pooling: str,
                         pad_id: int, device: torch.device, autocast=contextlib.nullcontext) -> Tensor | None:
    """``model``'s backbone's final hidden states over each response given its prompt, pooled (``mean``
    or ``last``): ``[B, H]`` float32 on ``device``; each distinct prompt runs once, its KV cache shared
    by its responses. The forward runs in ``autocast()``. None when a response is empty or ``model``
    has no separate backbone."""
    backbone = backbone_of(model)
    if backbone is None or not all(response_ids):
        return None
    from transformers import DynamicCache

    unique: dict[tuple[int, ...], int] = {}
    owner = [unique.setdefault(tuple(p), len(unique)) for p in prompt_ids]
    with autocast():
        prompts, prompt_mask = left_pad([list(p) for p in unique], pad_id, device)
        prompt_positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        backbone(input_ids=prompts, attention_mask=prompt_mask, position_ids=prompt_positions,
                 **cache_kwargs(model, cache))
        index = torch.tensor(owner, device=device)
        cache.batch_select_indices(index)
        ids, mask, positions, attention = _after_prompts(response_ids, prompt_mask, prompt_positions, index, pad_id,
                                                         device)
        hidden = backbone(input_ids=ids, attention_mask=attention, position_ids=positions,
                          **cache_kwargs(model, cache)).last_hidden_state.float()  # [B, Wr, H]
    if pooling == "last":
        return hidden[torch.arange(len(response_ids), device=device), mask.sum(-1) - 1]
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1)
