"""Verdicts from the probabilities of the verdict token, the reply cache across versions, and the
openai client's handling of keys (issue 28, items 1 and 4)."""

from __future__ import annotations

import math
import sqlite3

import pytest

from sealign.config import RunConfig
from sealign.errors import ConfigError, UserError
from sealign.oracles import build_oracle
from sealign.oracles.chat_client import ChatEndpoint, Reply, ReplyCache, TokenChoice
from sealign.oracles.judge import JudgeOracle
from sealign.oracles.verdicts import prob_first_wins, verdict_position
from tests.judge_server import JudgeServer
from tests.unit.oracles.test_judge import good_and_bad, make_judge


def tokens(*spec):
    """('word', {alt: p, ...}) pairs as TokenChoice; the word's own probability is its alternative's."""
    return tuple(TokenChoice(word, math.log(alts.get(word, 0.5)), tuple((t, math.log(p)) for t, p in alts.items()))
                 for word, alts in spec)


def test_the_verdict_token_is_the_letter_of_the_last_mark():
    said = tokens(("Format", {}), (" [[", {}), ("A", {"A": 0.5}), ("]]", {}), (" verdict", {}), (" [[", {}),
                  ("B", {"B": 0.7, "A": 0.2, "C": 0.1}), ("]]", {}))
    assert verdict_position(said) == 6
    assert prob_first_wins(said) == pytest.approx(0.2 + 0.05)
    # No mark: the first letter; no letter at all but A and B weighed at the start: the start.
    assert prob_first_wins(tokens(("The", {}), (" answer", {}), (" is", {}), (" A", {" A": 0.6, " B": 0.3}))) \
        == pytest.approx(0.6 / 0.9)
    assert prob_first_wins(tokens(("The", {"The": 0.5, "A": 0.3, "B": 0.1}), (" first", {}))) == pytest.approx(0.75)
    assert prob_first_wins(tokens(("Both", {"Both": 0.9}), (" good", {}))) is None
    assert prob_first_wins(None) is None and prob_first_wins(()) is None


def test_logprob_verdicts_are_soft_and_agree_with_the_text(tmp_path):
    prompts, good, bad = good_and_bad(6)
    with JudgeServer() as server:
        text = make_judge(server.url).compare(prompts, good, bad)
        soft = make_judge(server.url, verdicts_from="logprobs")
        verdicts = soft.compare(prompts, good, bad)
    assert [v.winner for v in verdicts] == [v.winner for v in text] == ["a"] * 6
    assert all(0.5 < v.prob_a < 1.0 for v in verdicts)  # sure, not certain: P(A) from the verdict token
    assert soft.stats["verdicts_from_logprobs"] == 12 and soft.stats["verdicts_from_text"] == 0


def test_logprobs_read_a_judge_that_skips_the_mark_and_fall_back_to_the_text_without_them():
    prompts, good, bad = good_and_bad(4, marker="@freetext")  # "The answer is A: ..."
    with JudgeServer() as server:
        assert not any(v.answered for v in make_judge(server.url).compare(prompts, good, bad))
        assert [v.winner for v in make_judge(server.url, verdicts_from="logprobs").compare(prompts, good, bad)] \
            == ["a"] * 4
        plain, _, _ = good_and_bad(4, marker="@nologprobs")  # an endpoint that ignores logprobs (transformers serve)
        judge = make_judge(server.url, verdicts_from="logprobs")
        assert [(v.winner, v.prob_a) for v in judge.compare(plain, good, bad)] == [("a", 1.0)] * 4
        assert judge.stats["verdicts_from_text"] == 8
        biased, _, _ = good_and_bad(2, marker="@biasA")  # P(A) = 0.9 in both orders: position bias cancels
        assert [v.prob_a for v in make_judge(server.url, verdicts_from="logprobs").compare(biased, good[:2],
                                                                                            bad[:2])] \
            == pytest.approx([0.5, 0.5])


def test_logprob_replies_are_cached_with_their_probabilities(tmp_path):
    prompts, good, bad = good_and_bad(3)
    with JudgeServer() as server:
        first = make_judge(server.url, tmp_path, verdicts_from="logprobs").compare(prompts, good, bad)
        asked = server.requests
        again = make_judge(server.url, tmp_path, verdicts_from="logprobs")
        second = again.compare(prompts, good, bad)
        assert server.requests == asked and again.stats["cache_hits"] == 6
    assert [v.prob_a for v in second] == pytest.approx([v.prob_a for v in first])


def test_a_cache_file_of_the_earlier_layout_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # the layout before finish_reason and logprobs
        db.execute("CREATE TABLE replies (key TEXT PRIMARY KEY, text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, "
                   "completion_tokens INTEGER NOT NULL, created REAL NOT NULL)")
        db.execute("INSERT INTO replies VALUES ('k', '[[A]]', 10, 2, 0)")
    cache = ReplyCache(path)
    assert cache.get("k") == Reply("[[A]]", 10, 2, cached=True)
    cache.put("n", Reply("[[B]]", 1, 1, finish_reason="stop", logprobs=tokens(("B", {"B": 0.8, "A": 0.2}))))
    assert prob_first_wins(cache.get("n").logprobs) == pytest.approx(0.2)


def test_no_key_is_a_placeholder_and_a_key_goes_as_a_bearer_token(monkeypatch):
    prompts, good, bad = good_and_bad(1)
    with JudgeServer(api_key="right") as server:
        monkeypatch.setenv("MY_JUDGE_KEY", "right")
        config = RunConfig(judge_url=server.url, judge_cache="off", judge_api_key_env="MY_JUDGE_KEY")
        assert build_oracle("judge", config).compare(prompts, good, bad)[0].winner == "a"
        with pytest.raises(UserError, match=r"refused the API key \(HTTP 401.*the variable it names is unset"):
            make_judge(server.url).compare(prompts, good, bad)


def test_logprob_verdicts_need_an_endpoint_that_asks_for_them():
    with pytest.raises(ConfigError, match="judge_verdicts"):
        JudgeOracle(ChatEndpoint("http://127.0.0.1:9/v1", "m"), verdicts_from="probabilities")
    with pytest.raises(ConfigError, match="top_logprobs"):
        JudgeOracle(ChatEndpoint("http://127.0.0.1:9/v1", "m"), verdicts_from="logprobs")
    oracle = build_oracle("judge", RunConfig(judge_url="http://127.0.0.1:9/v1", judge_cache="off",
                                             judge_verdicts="logprobs"))
    assert oracle.endpoint.body([], 8)["top_logprobs"] == 20


def test_templates_by_name_or_file(tmp_path):
    from sealign.oracles.judge import DEFAULT_TEMPLATE, LETTER_TEMPLATE, load_template

    assert load_template("") == load_template("mt-bench") == DEFAULT_TEMPLATE
    assert load_template("letter") == LETTER_TEMPLATE and LETTER_TEMPLATE.endswith("A or B.")
    with pytest.raises(ConfigError, match="not found"):
        load_template("short")
