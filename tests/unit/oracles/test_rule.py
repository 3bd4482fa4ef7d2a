"""The rule oracle, the "no answer" verdict and how the loop treats it."""

from __future__ import annotations

import re

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import ConfigError, UserError
from sealign.exploration.base import queries_of
from sealign.oracles import REGISTRY, build_oracle
from sealign.oracles.base import Verdict
from sealign.oracles.rule import RuleOracle
from sealign.records.feedback_log import FeedbackLog
from sealign.records.types import Candidate, Prompt
from sealign.run.collect import ask

torch.set_num_threads(1)


def exact_match(prompt: str, response: str) -> bool | None:
    """A math verifier: the last number in the response equals a + b from 'what is a + b ?'."""
    a, b = map(int, re.findall(r"-?\d+", prompt)[:2])
    numbers = re.findall(r"-?\d+", response)
    return int(numbers[-1]) == a + b if numbers else None  # no number: cannot be checked


def test_exact_match_rule_prefers_the_correct_answer_and_ties_equal_scores():
    oracle = RuleOracle(exact_match)
    prompts = ["what is 2 + 3 ?"] * 4
    verdicts = oracle.compare(prompts, ["it is 5", "4", "5", "6"], ["7", "so 5", "the answer: 5", "7"])
    assert [(v.winner, v.prob_a) for v in verdicts] == [("a", 1.0), ("b", 0.0), ("tie", 0.5), ("tie", 0.5)]


def test_rule_without_a_score_abstains():
    verdicts = RuleOracle(exact_match).compare(["what is 1 + 1 ?"], ["two"], ["2"])
    assert verdicts[0].winner is None and not verdicts[0].answered and "could not score" in verdicts[0].reason


def test_rule_from_an_import_path_and_from_the_registry():
    assert "rule" in REGISTRY
    oracle = build_oracle("rule", RunConfig(reward_fn="tests.unit.oracles.test_rule:exact_match"))
    assert [v.winner for v in oracle.compare(["what is 1 + 2 ?"], ["3"], ["4"])] == ["a"]
    builtin = build_oracle("rule", RunConfig())  # 'builtin': the built-in task's reward, compared exactly
    prompt = "post : last week i went hiking in oslo with my dog . overall it was fun . tl;dr :"
    assert builtin.compare([prompt], ["hiking in oslo with dog , fun ."], ["hiking ."])[0].winner == "a"
    with pytest.raises(ConfigError, match="cannot import"):
        build_oracle("rule", RunConfig(reward_fn="tests.nowhere:fn"))
    with pytest.raises(ConfigError, match="module:function"):
        build_oracle("rule", RunConfig(reward_fn="no_colon"))


def test_rule_returning_nonsense_is_a_user_error():
    with pytest.raises(UserError, match="must return a number"):
        RuleOracle(lambda p, r: "yes").compare(["x"], ["a"], ["b"])
    with pytest.raises(ValueError, match="equally long"):
        RuleOracle(exact_match).compare(["x"], ["a"], [])


class Scripted:
    """An oracle answering from a script: 'a', 'b', 'tie' or None (no answer)."""

    name = "scripted"

    def __init__(self, answers):
        self.answers = answers

    def compare(self, prompts, responses_a, responses_b, keys=None):
        return [Verdict(w, cost=2.0, cost_unit="tokens") if w else Verdict.abstain("scripted silence", 1.0)
                for w in self.answers]


def candidates(n: int) -> list[list[Candidate]]:
    groups = []
    for i in range(n):
        prompt = Prompt(f"p{i}", f"prompt {i}")
        groups.append([Candidate(prompt, [1, 2], [3 + j], f"response {i}.{j}") for j in range(3)])
    return groups


def test_loop_ask_logs_answers_and_counts_but_never_logs_unanswered_queries(tmp_path):
    comparisons, skipped = ask(Scripted(["a", None, "tie", None]),
                               queries_of(candidates(4), [(0, 1), (1, 2), (0, 2), (2, 0)]), step=0, run_id="r")
    assert skipped == 2
    assert [(c.prompt.id, c.winner, c.a.text, c.b.text) for c in comparisons] == [
        ("p0", "a", "response 0.0", "response 0.1"), ("p2", "tie", "response 2.0", "response 2.2")]
    with FeedbackLog(tmp_path / "f.sqlite", "r") as log:
        log.append(comparisons)
        assert [c.winner for c in log.read()] == ["a", "tie"] and log.total_cost() == 4.0
    assert ask(Scripted([]), [[], []], 0, "r") == ([], 0)
