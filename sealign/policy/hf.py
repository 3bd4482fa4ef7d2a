"""A policy over any `transformers` causal language model (local folder or Hub name)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import Tensor

from sealign.errors import UserError

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

    def __init__(self, model, tokenizer, device: str = "auto"):
        self.device = pick_device(device)
        self.model = model.to(self.device)
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_id: int = tokenizer.eos_token_id
        self.pad_id: int = tokenizer.pad_token_id

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str = "auto", dtype: str = "float32"):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the run has its own progress bar

        local = Path(name_or_path)
        looks_local = name_or_path.startswith((".", "/", "~")) or local.exists()
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
        except OSError as err:
            raise UserError(f"cannot load model {name_or_path!r}: {str(err).splitlines()[0]}") from err
        return cls(model, tokenizer, device)

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
    ) -> list[list[TokenIds]]:
        """``n`` responses per prompt, as token ids (greedy when temperature == 0).

        ``model`` samples from another network sharing this tokenizer (the reference policy).
        Returns a list of ``len(prompt_ids)`` lists of ``n`` responses each.
        """
        model = self.model if model is None else model
        model.eval()
        repeated = [p for p in prompt_ids for _ in range(n)]
        input_ids, attention = self._left_pad(repeated)
        greedy = temperature <= 0
        out = model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            do_sample=not greedy,
            temperature=None if greedy else temperature,
            top_p=None if greedy else top_p,
            top_k=None,
            max_new_tokens=max_new_tokens,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_id,
        )
        new_tokens = out[:, input_ids.shape[1]:].tolist()
        responses = [self._cut_at_eos(seq) for seq in new_tokens]
        return [responses[i * n:(i + 1) * n] for i in range(len(prompt_ids))]

    def _cut_at_eos(self, seq: TokenIds) -> TokenIds:
        if self.eos_id in seq:
            return seq[: seq.index(self.eos_id) + 1]
        return seq

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
        Returns ``(logps [B], lengths [B])``.
        """
        model = model or self.model
        seqs = [p + r for p, r in zip(prompt_ids, response_ids)]
        width = max(len(s) for s in seqs)
        batch = len(seqs)
        ids = torch.full((batch, width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((batch, width), dtype=torch.long)
        response_mask = torch.zeros((batch, width), dtype=torch.bool)
        for row, (p, r) in enumerate(zip(prompt_ids, response_ids)):
            ids[row, : len(p) + len(r)] = torch.tensor(p + r)
            attention[row, : len(p) + len(r)] = 1
            response_mask[row, len(p): len(p) + len(r)] = True
        ids, attention, response_mask = (
            ids.to(self.device), attention.to(self.device), response_mask.to(self.device)
        )
        logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
        targets = ids[:, 1:]
        mask = response_mask[:, 1:]
        # log_softmax gathered at the targets, without materialising [B, T, V] log-probs twice.
        token_logps = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)
        token_logps = token_logps * mask
        return token_logps.sum(-1), mask.sum(-1)

    # ------------------------------------------------------------------ weights
    def frozen_copy(self):
        """A detached, frozen copy of the current network (the reference policy)."""
        ref = copy.deepcopy(self.model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref

    def save(self, path: str | Path) -> None:
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
