"""A judge that answers nothing is loud: a line at the step, an error after a run of silent steps, and
summary.json counts the questions, the answers and the abstentions (issue 28, item 2)."""

from __future__ import annotations

import logging

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import ConfigError, UserError
from sealign.oracles import build_oracle
from sealign.oracles.base import Verdict
from sealign.oracles.budget import CostBudget
from sealign.oracles.watch import SilenceWatch
from tests.judge_server import JudgeServer
from tests.unit.oracles.test_judge import good_and_bad, make_judge

torch.set_num_threads(1)


class Scripted:
    """An oracle answering per call from a script of 'a' / None lists."""

    name = "scripted"

    def __init__(self, script):
        self.script = list(script)

    def compare(self, prompts, responses_a, responses_b, keys=None):
        return [Verdict("a", 1.0) if w else Verdict.abstain("no verdict in 'The answer is A: Hello'")
                for w in self.script.pop(0)]

    def no_answer_advice(self, reason):
        return "fix: a template"


def ask(oracle, n, step):
    return oracle.compare(["p"] * n, ["a"] * n, ["b"] * n, keys=[f"{step}:{row}" for row in range(n)])


def test_a_step_with_mostly_no_answers_says_so_in_one_line_with_a_sample_and_the_fix():
    lines = []
    watch = SilenceWatch(Scripted([[1, 1, 0, 0], [1, 0, 0, 0]]), warn=lines.append)
    ask(watch, 4, step=0)  # half answered: not "most", no line
    assert lines == []
    ask(watch, 4, step=1)
    assert lines == ["step 1: scripted gave no answer to 3 of 4 questions (e.g. no verdict in "
                     "'The answer is A: Hello'; fix: a template)"]


def test_a_run_of_silent_steps_stops_with_one_line_and_an_answer_resets_the_count():
    watch = SilenceWatch(Scripted([[0, 0], [0, 0], [1, 0], [0, 0], [0, 0], [0, 0]]), max_silent_steps=3,
                         warn=lambda line: None)
    for step in range(5):
        ask(watch, 2, step)  # two silent, one answer, two silent: never three in a row
    with pytest.raises(UserError, match=r"answered none of the 6 questions of the last 3 steps \(e\.g\. no verdict"):
        ask(watch, 2, 5)
    never = SilenceWatch(Scripted([[0]] * 10), max_silent_steps=0, warn=lambda line: None)
    for step in range(10):
        ask(never, 1, step)


def test_the_registry_watches_every_oracle_but_people_inside_the_cost_cap(tmp_path):
    config = RunConfig(judge_url="http://127.0.0.1:9/v1", judge_cache="off", oracle="judge", oracle_max_cost=5)
    oracle = build_oracle("judge", config)
    assert isinstance(oracle, CostBudget) and isinstance(oracle.oracle, SilenceWatch)
    assert oracle.endpoint.url.endswith("/chat/completions")  # attributes reach through both wrappers
    people = build_oracle("human", RunConfig(human_db=str(tmp_path / "q.sqlite")))
    assert not isinstance(people, SilenceWatch)
    with pytest.raises(ConfigError, match="oracle_max_silent_steps"):
        RunConfig(oracle_max_silent_steps=-1).validate()


def test_a_judge_that_never_gives_its_verdict_is_told_how_to_fix_it(caplog):
    prompts, good, bad = good_and_bad(4, marker="@freetext")  # "The answer is A: ..." with no [[A]]
    with JudgeServer() as server:
        watch = SilenceWatch(make_judge(server.url), max_silent_steps=2)
        with caplog.at_level(logging.WARNING):
            assert not any(v.answered for v in ask_judge(watch, prompts, good, bad, step=0))
        (line,) = caplog.messages
        assert line.startswith("step 0: judge gave no answer to 4 of 4 questions (e.g. unparseable verdict: "
                               "'The answer is")
        assert "--judge-template" in line and "--judge-verdicts logprobs" in line
        with pytest.raises(UserError, match="answered none of the 8 questions of the last 2 steps"):
            ask_judge(watch, prompts, good, bad, step=1)
        lines = []
        cut = SilenceWatch(make_judge(server.url, max_tokens=3), max_silent_steps=2, warn=lines.append)
        ask_judge(cut, *good_and_bad(2), step=0)  # "Judged by the ..." cut before its verdict
        assert "reply cut at 3 tokens" in lines[0] and "--judge-max-tokens, now 3" in lines[0]


def ask_judge(oracle, prompts, a, b, step):
    return oracle.compare(prompts, a, b, keys=[f"{step}:{row}" for row in range(len(prompts))])
