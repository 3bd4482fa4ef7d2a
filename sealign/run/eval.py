"""Evaluation: win rate of the current policy against the starting (SFT) policy's responses, and
against the prompts' reference responses when the dataset has them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import torch

from sealign.errors import UserError
from sealign.oracles.base import Oracle
from sealign.oracles.simulator import bradley_terry_prob
from sealign.policy.base import Policy
from sealign.records.types import Prompt
from sealign.run.collapse import answer_stats
from sealign.run.eval_settings import EvalSettings
from sealign.run.sampling_settings import SamplingSettings

HEADLINE_KEYS = {"sft": "eval/win_rate", "reference": "eval/win_rate_vs_reference"}


class WinRateEvaluator:
    """Judges the policy's responses to held-out prompts against the SFT policy's, fixed at start.

    Two numbers per evaluation: ``eval/win_rate``, the hard win rate (win = 1, tie = 0.5, loss = 0
    per prompt, averaged), and ``eval/win_prob``, the mean preference probability P(policy > SFT)
    (Asghari et al. 2026 sec. 3.5): from the reward at ``prob_temperature`` (the training oracle's Bradley-Terry
    temperature) when there is a reward function, else the judge's own probability. With a reward
    function and no ``prob_temperature`` (the oracle is no Bradley-Terry rater: a rule, a judge) no
    ``eval/win_prob`` is recorded: a sigmoid at a temperature nobody rates at is no probability. A judge that
    is not a reward function (an LLM judge, a reward model) is asked in ``both_orders`` to cancel
    its position bias. Sampled decoding uses a fixed seed so that successive evaluations differ
    only through the policy. When every prompt carries a reference response (``--reference-field``),
    the same responses are also judged against the references (``eval/win_rate_vs_reference``, as
    the SEA and TRL TL;DR set-ups report); ``against`` picks which of the two is the headline of the
    progress bar, the plot and the summary.
    """

    def __init__(self, policy: Policy, prompts: list[Prompt], judge: Oracle, *, greedy: bool,
                 temperature: float, max_new_tokens: int, seed: int, reward_fn=None, best_of_n: int = 0,
                 reward_model=None, bon_temperature: float = 1.0, top_p: float = 1.0, both_orders: bool = False,
                 prob_temperature: float | None = 1.0, against: str = "sft", judge_name: str = "reward",
                 extra_scores: dict[str, Callable[[str, str], float | None]] | None = None):
        self.best_of_n, self.reward_model, self.bon_temperature = 0, reward_model, bon_temperature
        has_references = bool(prompts) and all(p.reference is not None for p in prompts)
        self.references = [p.reference for p in prompts] if has_references else None
        if against == "reference" and self.references is None:
            raise UserError("--eval-against reference: the evaluation prompts have no reference responses; "
                            "use prompts from a dataset with --reference-field")
        self.headline_key = HEADLINE_KEYS[against]
        self.policy = policy
        self.prompts = prompts
        self.prompt_ids = policy.encode_prompts([p.text for p in prompts])
        self.judge = judge
        self.judge_name = judge_name  # recorded in summary.json: 'reward' or 'oracle:NAME'
        self.both_orders = both_orders
        self.prob_temperature = prob_temperature
        self.temperature = 0.0 if greedy else temperature
        self.top_p = top_p  # the run's nucleus, as its candidates are drawn
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.reward_fn = reward_fn
        self.extra_scores = extra_scores or {}  # a task's own readings beside its reward (eval/NAME)
        self.last_ended: list[bool] | None = None  # which of the last answers ended with EOS
        self.baseline = self.responses()  # the SFT policy's own answers, never Best-of-N
        self.baseline_stats = answer_stats(self.baseline, self.last_ended)  # what a collapse is measured against
        self.best_of_n = best_of_n

    def responses(self) -> list[str]:
        if self.best_of_n > 1:
            return self.best_of_n_responses()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            ids = self.policy.generate(self.prompt_ids, n=1, temperature=self.temperature, top_p=self.top_p,
                                       max_new_tokens=self.max_new_tokens)
        self.last_ended = [self.ended(group[0]) for group in ids]
        return [self.policy.decode(group[0]) for group in ids]

    def ended(self, token_ids) -> bool:
        """Whether an answer stopped by itself (its last token is the end of sequence), not at --max-new-tokens."""
        return bool(token_ids) and token_ids[-1] == getattr(self.policy, "eos_id", None)

    def best_of_n_responses(self) -> list[str]:
        """BoN(policy, R): ``best_of_n`` samples per prompt, the one the reward model's mean ranks first
        (Liu et al. 2024 sec. 4.2 and Table 1 rows 4-7)."""
        from sealign.records.types import Candidate
        from sealign.run.model_labels import mean_rewards

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            ids = self.policy.generate(self.prompt_ids, n=self.best_of_n, temperature=self.bon_temperature,
                                       top_p=self.top_p, max_new_tokens=self.max_new_tokens)
        candidates = [[Candidate(prompt, p_ids, r, self.policy.decode(r)) for r in group]
                      for prompt, p_ids, group in zip(self.prompts, self.prompt_ids, ids)]
        best = [int(means.argmax()) for means in mean_rewards(self.reward_model, candidates)]
        self.last_ended = [self.ended(group[k].token_ids) for group, k in zip(candidates, best)]
        return [group[k].text for group, k in zip(candidates, best)]

    def evaluate(self) -> dict[str, float]:
        texts = self.responses()
        self.last_responses = texts
        prompts = [p.text for p in self.prompts]
        scores, probs = self.judged(prompts, texts, self.baseline)
        # A judge that cannot answer (a reward_fn gave NaN) leaves that prompt out rather than guess.
        judged = [score for score in scores if score is not None]
        metrics = {
            "eval/win_rate": statistics.fmean(judged) if judged else math.nan,
            "eval/skipped": len(scores) - len(judged),
            # words per answer and the shares of empty, distinct and finished answers (sealign/run/collapse.py)
            **{f"eval/{name}": value for name, value in answer_stats(texts, self.last_ended).items()
               if math.isfinite(value)},
        }
        if self.references is not None:
            against_reference, _ = self.judged(prompts, texts, self.references)
            judged = [score for score in against_reference if score is not None]
            metrics["eval/win_rate_vs_reference"] = statistics.fmean(judged) if judged else math.nan
        if self.reward_fn is not None:
            if self.references is not None:
                metrics["eval/reference_reward"] = finite_mean(
                    self.reward_fn(p, t) for p, t in zip(prompts, self.references))
            rewards = [self.reward_fn(p, t) for p, t in zip(prompts, texts)]
            baseline = [self.reward_fn(p, t) for p, t in zip(prompts, self.baseline)]
            metrics["eval/reward"] = finite_mean(rewards)
            metrics["eval/baseline_reward"] = finite_mean(baseline)
            probs = ([bt_prob(r, b, self.prob_temperature) for r, b in zip(rewards, baseline)]
                     if self.prob_temperature is not None else None)
        for name, score in self.extra_scores.items():
            metrics[f"eval/{name}"] = finite_mean(score(p, t) for p, t in zip(prompts, texts))
            metrics[f"eval/baseline_{name}"] = finite_mean(score(p, t) for p, t in zip(prompts, self.baseline))
        if probs is not None:
            metrics["eval/win_prob"] = finite_mean(probs)
        return metrics

    def samples(self, k: int) -> list[dict[str, str]]:
        """The first ``k`` held-out prompts with the last evaluation's responses and the SFT policy's."""
        return [{"prompt": p.text, "response": r, "sft_response": b}
                for p, r, b in zip(self.prompts[:k], self.last_responses, self.baseline)]

    def judged(self, prompts: list[str], texts: list[str],
               others: list[str]) -> tuple[list[float | None], list[float | None]]:
        """Per prompt, the policy's score against ``others`` (1, 0.5, 0; None: no answer) and the
        judge's P(policy > other) (None where it gives none)."""
        first = self.judge.compare(prompts, texts, others)
        scores = [None if v.winner is None else WIN_SCORE[v.winner] for v in first]
        probs = [v.prob_a for v in first]
        if not self.both_orders:
            return scores, probs
        swapped = self.judge.compare(prompts, others, texts)
        scores = [mean_of(s, None if v.winner is None else 1.0 - WIN_SCORE[v.winner]) for s, v in zip(scores, swapped)]
        probs = [mean_of(p, None if v.prob_a is None else 1.0 - v.prob_a) for p, v in zip(probs, swapped)]
        return scores, probs


WIN_SCORE = {"a": 1.0, "tie": 0.5, "b": 0.0}


def build_evaluator(settings: EvalSettings, sampling: SamplingSettings, seed: int, policy: Policy,
                    prompts: list[Prompt], judge: Oracle, **judging) -> WinRateEvaluator:
    """The evaluator of ``settings`` (greedy or at ``eval_temperature``, the headline against the SFT
    policy or the references): answers as long as the candidates (``sampling.max_new_tokens``) and drawn
    with their top-p; Best-of-N draws its candidates as the baseline's answers are drawn (greedy: at
    the candidates' temperature), so only the reranking differs. ``judging``: who judges and how
    (``reward_fn``, ``best_of_n``, ``reward_model``, ``both_orders``, ``prob_temperature``, ``judge_name``,
    ``extra_scores``), chosen by the assembly."""
    return WinRateEvaluator(
        policy, prompts, judge, greedy=settings.eval_greedy, temperature=settings.eval_temperature,
        max_new_tokens=sampling.max_new_tokens, seed=seed,
        bon_temperature=sampling.temperature if settings.eval_greedy else settings.eval_temperature,
        top_p=sampling.top_p, against=settings.eval_against, **judging)


def mean_of(x: float | None, y: float | None) -> float | None:
    """The mean of the values that are there (None when neither is)."""
    present = [v for v in (x, y) if v is not None]
    return statistics.fmean(present) if present else None


def bt_prob(reward_a, reward_b, temperature: float) -> float | None:
    """sigmoid((r_a - r_b) / T); None when either reward is missing or not finite."""
    if reward_a is None or reward_b is None or not (math.isfinite(reward_a) and math.isfinite(reward_b)):
        return None
    return bradley_terry_prob(reward_a, reward_b, temperature)


def finite_mean(values) -> float:
    """Mean of the finite values (a flaky reward's NaN / inf / None are left out); NaN when there are none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(finite) if finite else math.nan
