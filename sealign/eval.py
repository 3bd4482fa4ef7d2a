"""Evaluation: win rate of the current policy against the starting (SFT) policy's responses."""

from __future__ import annotations

import math
import statistics

import torch

from sealign.oracles.base import Oracle
from sealign.policy.hf import HFPolicy
from sealign.types import Prompt


class WinRateEvaluator:
    """Judges the policy's responses to held-out prompts against the SFT policy's, fixed at start.

    Win = 1, tie = 0.5, loss = 0 per prompt, averaged. Sampled decoding uses a fixed seed so that
    successive evaluations differ only through the policy.
    """

    def __init__(self, policy: HFPolicy, prompts: list[Prompt], judge: Oracle, *, greedy: bool,
                 temperature: float, max_new_tokens: int, seed: int, reward_fn=None, best_of_n: int = 0,
                 reranker=None, bon_temperature: float = 1.0):
        self.best_of_n, self.reranker, self.bon_temperature = 0, reranker, bon_temperature
        self.policy = policy
        self.prompts = prompts
        self.prompt_ids = policy.encode_prompts([p.text for p in prompts])
        self.judge = judge
        self.temperature = 0.0 if greedy else temperature
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.reward_fn = reward_fn
        self.baseline = self.responses()  # the SFT policy's own answers, never Best-of-N
        self.best_of_n = best_of_n

    def responses(self) -> list[str]:
        if self.best_of_n > 1:
            return self.best_of_n_responses()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            ids = self.policy.generate(self.prompt_ids, n=1, temperature=self.temperature,
                                       max_new_tokens=self.max_new_tokens)
        return [self.policy.decode(group[0]) for group in ids]

    def best_of_n_responses(self) -> list[str]:
        """BoN(policy, R): ``best_of_n`` samples per prompt, the one the reward model's mean ranks first
        (paper 000 sec. 4.2 and Table 1 rows 4-7)."""
        from sealign.model_labels import mean_rewards
        from sealign.types import Candidate

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            ids = self.policy.generate(self.prompt_ids, n=self.best_of_n, temperature=self.bon_temperature,
                                       max_new_tokens=self.max_new_tokens)
        candidates = [[Candidate(prompt, p_ids, r, self.policy.decode(r)) for r in group]
                      for prompt, p_ids, group in zip(self.prompts, self.prompt_ids, ids)]
        best = [int(means.argmax()) for means in mean_rewards(self.reranker, candidates)]
        return [group[k].text for group, k in zip(candidates, best)]

    def evaluate(self) -> dict[str, float]:
        texts = self.responses()
        self.last_responses = texts
        prompts = [p.text for p in self.prompts]
        verdicts = self.judge.compare(prompts, texts, self.baseline)
        score = {"a": 1.0, "tie": 0.5, "b": 0.0}
        # A judge that cannot answer (a reward_fn gave NaN) leaves that prompt out rather than guess.
        judged = [score[v.winner] for v in verdicts if v.winner is not None]
        metrics = {
            "eval/win_rate": statistics.fmean(judged) if judged else math.nan,
            "eval/skipped": len(verdicts) - len(judged),
            "eval/response_words": statistics.fmean(len(t.split()) for t in texts),
        }
        if self.reward_fn is not None:
            metrics["eval/reward"] = finite_mean(self.reward_fn(p, t) for p, t in zip(prompts, texts))
            metrics["eval/baseline_reward"] = finite_mean(self.reward_fn(p, t) for p, t in zip(prompts, self.baseline))
        return metrics

    def samples(self, k: int) -> list[dict[str, str]]:
        """The first ``k`` held-out prompts with the last evaluation's responses and the SFT policy's."""
        return [{"prompt": p.text, "response": r, "sft_response": b}
                for p, r, b in zip(self.prompts[:k], self.last_responses, self.baseline)]


def finite_mean(values) -> float:
    """Mean of the finite values (a flaky reward's NaN / inf / None are left out); NaN when there are none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(finite) if finite else math.nan
