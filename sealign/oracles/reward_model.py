"""A Bradley-Terry oracle over a trained reward model (any `AutoModelForSequenceClassification`).

Each (prompt, response) is scored by the model's single logit r(x, y), then, as in the
simulator, P(a > b) = sigmoid((r(x, a) - r(x, b)) / temperature) and the answer is either
sampled from that probability or, with ``deterministic``, the likelier side. Responses are
formatted with the tokenizer's chat template when it has one (user = prompt, assistant =
response), the way chat reward models were trained; otherwise as a (prompt, response) text pair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from sealign.errors import ConfigError
from sealign.oracles.base import Verdict, check_lengths, winner_from_prob
from sealign.oracles.hf_models import (
    has_chat_template,
    length_sorted_batches,
    load_model_and_tokenizer,
    pad_right,
)
from sealign.oracles.simulator import bradley_terry_prob, reward_problem

if TYPE_CHECKING:
    from sealign.oracles.settings import OracleSettings


class RewardModelOracle:
    def __init__(self, model, tokenizer, *, temperature: float = 1.0, deterministic: bool = False,
                 batch_size: int = 16, max_length: int = 2048, seed: int = 0, name: str = "reward-model"):
        if getattr(model.config, "num_labels", 1) != 1:
            raise ConfigError(f"reward model must have one output (num_labels=1), this one has "
                              f"{model.config.num_labels}; is it a classifier rather than a reward model?")
        self.model, self.tokenizer = model, tokenizer
        self.temperature, self.deterministic = temperature, deterministic
        self.batch_size, self.max_length = batch_size, max_length
        self.rng = np.random.default_rng(seed)
        self.name = name

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str = "auto", dtype: str = "float32", **kwargs):
        from transformers import AutoModelForSequenceClassification

        model, tokenizer = load_model_and_tokenizer(AutoModelForSequenceClassification, name_or_path,
                                                    device, dtype, "reward-model")
        return cls(model, tokenizer, **kwargs)

    def encode(self, prompt: str, response: str) -> list[int]:
        """Token ids of one (prompt, response); over-long inputs keep their last max_length tokens
        (the reward head reads the end of the sequence)."""
        if has_chat_template(self.tokenizer):
            chat = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
            text = self.tokenizer.apply_chat_template(chat, tokenize=False)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        else:  # a text pair: cross-encoder reward models (DeBERTa, ...) put a separator between
            ids = self.tokenizer(prompt, response)["input_ids"]
        return ids[-self.max_length :]

    @torch.no_grad()
    def score(self, prompts: list[str], responses: list[str]) -> tuple[list[float], list[int]]:
        """Rewards r(x, y) and the token count of each input, batched by length."""
        seqs = [self.encode(p, r) for p, r in zip(prompts, responses, strict=True)]
        rewards = [0.0] * len(seqs)
        for batch in length_sorted_batches([len(s) for s in seqs], self.batch_size):
            ids, mask = pad_right([seqs[i] for i in batch], self.tokenizer.pad_token_id, self.model.device)
            logits = self.model(input_ids=ids, attention_mask=mask).logits[:, 0].float().cpu().tolist()
            for i, value in zip(batch, logits):
                rewards[i] = value
        return rewards, [len(s) for s in seqs]

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        check_lengths(prompts, responses_a, responses_b)
        if not prompts:
            return []
        # One forward pass over both sides; repeated texts (a response in several pairs) are scored once.
        unique = list(dict.fromkeys(zip(prompts + prompts, responses_a + responses_b)))
        rewards, lengths = self.score([p for p, _ in unique], [r for _, r in unique])
        index = {key: i for i, key in enumerate(unique)}
        verdicts = []
        for prompt, a, b in zip(prompts, responses_a, responses_b):
            ia, ib = index[(prompt, a)], index[(prompt, b)]
            verdicts.append(verdict_from_rewards(rewards[ia], rewards[ib], self.temperature, self.deterministic,
                                                 self.rng, float(lengths[ia] + lengths[ib]), "tokens",
                                                 "the reward model"))
        return verdicts


def verdict_from_rewards(reward_a: float, reward_b: float, temperature: float, deterministic: bool,
                         rng: np.random.Generator, cost: float, cost_unit: str, source: str) -> Verdict:
    """Bradley-Terry on two rewards: P(a > b) = sigmoid((r_a - r_b) / T); the answer sampled from it, or
    with ``deterministic`` the likelier side. NaN / inf rewards are no answer (the scoring was still paid)."""
    if problem := reward_problem(reward_a, reward_b, source):
        return Verdict.abstain(problem, cost, cost_unit)
    prob_a = bradley_terry_prob(reward_a, reward_b, temperature)
    winner = winner_from_prob(prob_a) if deterministic else ("a" if rng.random() < prob_a else "b")
    return Verdict(winner, prob_a, cost=cost, cost_unit=cost_unit)


def build(config: OracleSettings, seed_offset: int = 0) -> RewardModelOracle:
    if config.oracle_batch_size < 1 or config.oracle_max_length < 8:
        raise ConfigError("oracle_batch_size must be >= 1 and oracle_max_length >= 8")
    return RewardModelOracle.from_pretrained(
        config.oracle_model, config.device, config.dtype, temperature=config.oracle_temperature,
        deterministic=config.oracle_deterministic, batch_size=config.oracle_batch_size,
        max_length=config.oracle_max_length, seed=config.seed + seed_offset,
    )
