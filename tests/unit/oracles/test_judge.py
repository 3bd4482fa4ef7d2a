"""The LLM-judge oracle against a real HTTP server on 127.0.0.1 (tests/judge_server.py)."""

from __future__ import annotations

import random
import socket
import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sealign.config import RunConfig
from sealign.errors import ConfigError, UserError
from sealign.oracles import build_oracle
from sealign.oracles.budget import CostBudget
from sealign.oracles.chat_client import ChatEndpoint, ReplyCache
from sealign.oracles.judge import DEFAULT_TEMPLATE, JudgeOracle, load_template, parse_verdict
from sealign.tasks.summarize import ideal_summary, make_posts, noisy_demonstration
from tests.judge_server import JudgeServer

torch.set_num_threads(1)


def make_judge(url: str, tmp_path=None, *, timeout=5.0, retries=3, concurrency=4, **kwargs) -> JudgeOracle:
    cache = ReplyCache(tmp_path / "cache.sqlite") if tmp_path is not None else None
    endpoint = ChatEndpoint(url, "test-judge", None, timeout=timeout, retries=retries, malformed_backoff=0.01,
                            cache=cache, top_logprobs=20 if kwargs.get("verdicts_from") == "logprobs" else 0)
    return JudgeOracle(endpoint, concurrency=concurrency, **kwargs)


def good_and_bad(n: int, seed: int = 0, marker: str = ""):
    """Prompts of the built-in task, each with its ideal summary and a worse one (by the reward)."""
    posts = make_posts(n, seed)
    rng = random.Random(seed)
    prompts = [f"{p.prompt} {marker}".strip() for p in posts]
    return prompts, [ideal_summary(p) for p in posts], [noisy_demonstration(p, rng, 0.2) for p in posts]


@pytest.fixture
def server():
    with JudgeServer() as judge:
        yield judge


@pytest.mark.parametrize("text, expected", [
    ("Judged. [[A]]", "a"), ("[[b]]", "b"), ("[[C]]", "tie"), ("[[TIE]]", "tie"),
    ('Format: "[[A]]" or "[[B]]". My verdict: [[B]]', "b"),  # the last verdict counts
    ("A", "a"), (" **B**.", "b"), ("tie", "tie"),
    ("Both are good.", None), ("", None), ("[[D]]", None), ("AB", None),
])
def test_parse_verdict(text, expected):
    assert parse_verdict(text) == expected


@given(st.text())
def test_parse_verdict_never_fails_on_any_reply(text):
    assert parse_verdict(text) in ("a", "b", "tie", None)


def test_judge_prefers_the_better_response_in_both_orders(server, tmp_path):
    prompts, good, bad = good_and_bad(6)
    judge = make_judge(server.url, tmp_path)
    verdicts = judge.compare(prompts, good, bad)
    assert [(v.winner, v.prob_a) for v in verdicts] == [("a", 1.0)] * 6
    assert all(v.cost > 0 and v.cost_unit == "tokens" for v in verdicts)
    assert server.requests == 12  # both orders of 6 questions
    # The swapped questions are the same requests in the other order: answered from the cache, free.
    swapped = judge.compare(prompts, bad, good)
    assert [(v.winner, v.prob_a, v.cost) for v in swapped] == [("b", 0.0, 0.0)] * 6
    assert server.requests == 12
    assert {v.winner for v in judge.compare(prompts, good, good)} == {"tie"}


def test_both_orders_cancel_position_bias(server):
    prompts, good, bad = good_and_bad(4, marker="@biasA")
    both = make_judge(server.url).compare(prompts, good, bad)
    assert [(v.winner, v.prob_a) for v in both] == [("tie", 0.5)] * 4
    one = make_judge(server.url, both_orders=False, seed=3).compare(prompts * 8, good * 8, bad * 8)
    # One random order per question: the biased judge then says "a" about half the time.
    assert {v.winner for v in one} == {"a", "b"}
    assert all(v.prob_a in (0.0, 1.0) for v in one)


def test_retries_429_5xx_and_malformed_replies_then_answers(server):
    prompts, good, bad = good_and_bad(3)
    prompts = [prompts[0] + " @429x2", prompts[1] + " @500x1", prompts[2] + " @badjsonx2"]
    judge = make_judge(server.url)
    verdicts = judge.compare(prompts, good, bad)
    assert [v.winner for v in verdicts] == ["a", "a", "a"]
    assert judge.stats["retries"] == 2 * (2 + 1 + 2)  # per order
    assert judge.stats["skipped"] == 0


def test_unanswerable_queries_are_skipped_not_invented(server):
    prompts, good, bad = good_and_bad(4)
    prompts[1] += " @garbled"  # paid for, but no verdict in it
    prompts[2] += " @500x99"  # fails beyond the retries
    prompts[3] += " @slow1.5"  # every attempt times out
    judge = make_judge(server.url, timeout=0.3, retries=1)
    start = time.perf_counter()
    verdicts = judge.compare(prompts, good, bad)
    assert time.perf_counter() - start < 3.0
    assert [v.winner for v in verdicts] == ["a", None, None, None]
    assert "unparseable" in verdicts[1].reason and verdicts[1].cost > 0  # the garbled replies were paid
    assert "HTTP 500" in verdicts[2].reason and verdicts[2].cost == 0
    assert "timeout" in verdicts[3].reason
    assert judge.stats["skipped"] == 3 and judge.stats["answered"] == 1


def test_cache_never_pays_twice(server, tmp_path):
    prompts, good, bad = good_and_bad(5)
    first = make_judge(server.url, tmp_path).compare(prompts, good, bad)
    asked = server.requests
    again = make_judge(server.url, tmp_path)  # a new run sharing the cache file
    second = again.compare(prompts, good, bad)
    assert server.requests == asked
    assert [v.winner for v in second] == [v.winner for v in first]
    assert all(v.cost == 0 for v in second) and again.stats["cache_hits"] == 10


def test_identical_questions_in_a_batch_are_asked_once(server):
    prompts, good, bad = good_and_bad(1)
    verdicts = make_judge(server.url).compare(prompts * 5, good * 5, bad * 5)
    assert server.requests == 2
    assert verdicts[0].cost > 0 and [v.cost for v in verdicts[1:]] == [0.0] * 4  # paid once


def test_concurrency_limit(tmp_path):
    # Each answer takes long enough that requests overlap even on a loaded machine (0.05 s flaked).
    with JudgeServer(delay=0.3) as server:
        prompts, good, bad = good_and_bad(12)
        make_judge(server.url, concurrency=3).compare(prompts, good, bad)
        assert 2 <= server.max_in_flight <= 3


def test_dollar_costs_from_token_prices(server):
    prompts, good, bad = good_and_bad(2)
    judge = make_judge(server.url, price_in=0.15, price_out=0.60)
    verdicts = judge.compare(prompts, good, bad)
    tokens_in, tokens_out = judge.stats["prompt_tokens"], judge.stats["completion_tokens"]
    assert all(v.cost_unit == "usd" for v in verdicts)
    assert sum(v.cost for v in verdicts) == pytest.approx((tokens_in * 0.15 + tokens_out * 0.60) / 1e6)
    assert judge.stats["cost"] == pytest.approx(sum(v.cost for v in verdicts))


def test_configuration_mistakes_are_one_line_errors(tmp_path):
    prompts, good, bad = good_and_bad(1)
    with JudgeServer(api_key="right") as server:
        with pytest.raises(UserError, match="refused the API key"):
            make_judge(server.url).compare(prompts, good, bad)
        with pytest.raises(UserError, match="not found"):
            make_judge(server.url + "/wrong").compare(prompts, good, bad)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    with pytest.raises(UserError, match="answered none"):
        make_judge(closed, retries=0).compare(prompts, good, bad)
    with pytest.raises(UserError, match="http://"):
        ChatEndpoint("localhost:8000/v1", "m")
    bad_template = tmp_path / "t.txt"
    bad_template.write_text("Which is better, {response_a} or {response_b}?")
    with pytest.raises(ConfigError, match="lacks {prompt}"):
        load_template(str(bad_template))
    with pytest.raises(ConfigError, match="not found"):
        load_template(str(tmp_path / "missing.txt"))


def test_custom_template_with_braces(server, tmp_path):
    template = tmp_path / "judge.txt"
    template.write_text(DEFAULT_TEMPLATE.replace("Please act", 'Reply as {"json": "not needed"}. Please act'))
    prompts, good, bad = good_and_bad(2)
    judge = make_judge(server.url, template=load_template(str(template)))
    assert [v.winner for v in judge.compare(prompts, bad, good)] == ["b", "b"]


def test_factory_and_cost_budget(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_JUDGE_KEY", "secret")
    config = RunConfig(oracle="judge", judge_url=server.url, judge_model="m", judge_api_key_env="TEST_JUDGE_KEY",
                       judge_cache=str(tmp_path / "c.sqlite"), oracle_max_cost=1.0)
    oracle = build_oracle("judge", config)
    assert isinstance(oracle, CostBudget) and oracle.endpoint.api_key == "secret"
    prompts, good, bad = good_and_bad(3)
    assert all(v.answered for v in oracle.compare(prompts, good, bad))
    assert oracle.exhausted  # tokens far exceed a budget of 1
    assert [v.reason for v in oracle.compare(prompts, good, bad)] == ["oracle budget of 1 spent"] * 3
    assert not hasattr(build_oracle("judge", RunConfig(judge_url=server.url, judge_cache="off")), "exhausted")
    with pytest.raises(ConfigError, match="oracle_max_cost"):
        build_oracle("judge", RunConfig(oracle_max_cost=-1))
