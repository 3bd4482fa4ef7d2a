"""A pairwise preference model (Dong et al. 2024 sec. 2.1): a causal LM reads both responses and says "A" or "B".

The model sees ``[CONTEXT] x [RESPONSE A] a [RESPONSE B] b`` (inside the tokenizer's chat
template as the user turn, when it has one) and its next-token distribution gives

    P(A > B) = p("A") / (p("A") + p("B")).

Such models prefer one position (position bias), so each question is either asked in both
orders and averaged, P(a > b) = (P(a first) + 1 - P(b first)) / 2 (order="both", twice the
compute), or shown in one random order (order="random", the way these models are trained).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from sealign.errors import ConfigError
from sealign.oracles.base import Verdict, check_lengths, winner_from_prob
from sealign.oracles.hf_models import has_chat_template, length_sorted_batches, load_model_and_tokenizer, pad_right

if TYPE_CHECKING:
    from sealign.oracles.settings import OracleSettings

TEMPLATE = "[CONTEXT] {context} [RESPONSE A] {response_a} [RESPONSE B] {response_b} \n"


class PairwisePreferenceOracle:
    def __init__(self, model, tokenizer, *, order: str = "both", deterministic: bool = False,
                 batch_size: int = 8, max_length: int = 2048, seed: int = 0, name: str = "pairwise"):
        if order not in ("both", "random"):
            raise ConfigError(f"pairwise order must be 'both' or 'random' (got {order!r})")
        self.model, self.tokenizer = model, tokenizer
        self.order, self.deterministic = order, deterministic
        self.batch_size, self.max_length = batch_size, max_length
        self.rng = np.random.default_rng(seed)
        self.name = name
        self.label_ids = (self._label_id("A"), self._label_id("B"))

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str = "auto", dtype: str = "float32", **kwargs):
        from transformers import AutoModelForCausalLM

        model, tokenizer = load_model_and_tokenizer(AutoModelForCausalLM, name_or_path, device, dtype, "pairwise")
        return cls(model, tokenizer, **kwargs)

    def _label_id(self, label: str) -> int:
        """The single token the model emits for a verdict label ("A" or "B")."""
        ids = self.tokenizer.encode(label, add_special_tokens=False)
        if len(ids) != 1 or ids[0] == self.tokenizer.unk_token_id:
            raise ConfigError(f"the pairwise model's tokenizer has no single token for {label!r} (got {ids}); "
                              "is it a pairwise preference model?")
        return ids[0]

    def encode(self, prompt: str, first: str, second: str) -> list[int]:
        text = TEMPLATE.format(context=prompt, response_a=first, response_b=second)
        if has_chat_template(self.tokenizer):
            chat = [{"role": "user", "content": text}]
            text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        else:
            ids = self.tokenizer(text)["input_ids"]
        # Keep the end: the verdict is read after the last token, right after response B.
        return ids[-self.max_length :]

    @torch.no_grad()
    def prob_first_wins(self, prompts: list[str], firsts: list[str],
                        seconds: list[str]) -> tuple[list[float], list[int]]:
        """P(first shown beats second shown) per triple, and the tokens each input took."""
        seqs = [self.encode(p, f, s) for p, f, s in zip(prompts, firsts, seconds, strict=True)]
        probs = [0.5] * len(seqs)
        for batch in length_sorted_batches([len(s) for s in seqs], self.batch_size):
            ids, mask = pad_right([seqs[i] for i in batch], self.tokenizer.pad_token_id, self.model.device)
            logits = self.model(input_ids=ids, attention_mask=mask).logits
            last = mask.sum(dim=1) - 1  # right padding: the last real token of each row
            two = logits[torch.arange(len(batch), device=logits.device), last][:, list(self.label_ids)].float()
            # p(A) / (p(A) + p(B)) is a softmax restricted to the two label tokens.
            for i, p in zip(batch, torch.softmax(two, dim=-1)[:, 0].cpu().tolist()):
                probs[i] = p
        return probs, [len(s) for s in seqs]

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        check_lengths(prompts, responses_a, responses_b)
        n = len(prompts)
        if n == 0:
            return []
        if self.order == "both":
            probs, tokens = self.prob_first_wins(prompts * 2, responses_a + responses_b, responses_b + responses_a)
            # (P(a first) + 1 - P(b first)) / 2, written so that equal readings give exactly 0.5 (a tie)
            prob_a = [0.5 + (probs[i] - probs[n + i]) / 2 for i in range(n)]
            cost = [tokens[i] + tokens[n + i] for i in range(n)]
        else:
            swap = self.rng.random(n) < 0.5
            firsts = [b if s else a for a, b, s in zip(responses_a, responses_b, swap)]
            seconds = [a if s else b for a, b, s in zip(responses_a, responses_b, swap)]
            probs, cost = self.prob_first_wins(prompts, firsts, seconds)
            prob_a = [1.0 - p if s else p for p, s in zip(probs, swap)]
        verdicts = []
        for p, c in zip(prob_a, cost):
            if not math.isfinite(p):  # NaN logits: "b" by default of every comparison, unless skipped
                verdicts.append(Verdict.abstain(f"the pairwise model gave P(a > b) = {p}", float(c), "tokens"))
                continue
            winner = winner_from_prob(p) if self.deterministic else ("a" if self.rng.random() < p else "b")
            verdicts.append(Verdict(winner, p, cost=float(c), cost_unit="tokens"))
        return verdicts


def build(config: OracleSettings, seed_offset: int = 0) -> PairwisePreferenceOracle:
    if config.oracle_batch_size < 1 or config.oracle_max_length < 8:
        raise ConfigError("oracle_batch_size must be >= 1 and oracle_max_length >= 8")
    return PairwisePreferenceOracle.from_pretrained(
        config.oracle_model, config.device, config.dtype, order=config.pairwise_order,
        deterministic=config.oracle_deterministic, batch_size=config.oracle_batch_size,
        max_length=config.oracle_max_length, seed=config.seed + seed_offset,
    )
