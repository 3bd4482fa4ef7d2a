"""The reward-server oracle against servers speaking OpenRLHF's serve_rm and vLLM's pooling and score
protocols (tests/reward_servers.py): batched, concurrent, retried, cached, costed, one-line errors."""

from __future__ import annotations

import socket

import pytest
import torch

from sealign.config import RunConfig
from sealign.errors import ConfigError, UserError
from sealign.oracles import build_oracle
from sealign.oracles.reward_client import RewardCache, RewardEndpoint
from sealign.oracles.reward_protocols import PROTOCOLS, protocol_for
from sealign.oracles.reward_server import RewardServerOracle
from sealign.tasks.summarize import prompt_reward
from tests.reward_servers import RewardServer
from tests.unit.oracles.test_judge import good_and_bad

torch.set_num_threads(1)

PATHS = {"openrlhf": "/get_reward", "vllm-pooling": "/pooling", "vllm-score": "/score"}


def make_oracle(url: str, protocol: str = "auto", *, tmp_path=None, batch_size=4, concurrency=2, retries=2,
                timeout=5.0, model="rm", **kwargs) -> RewardServerOracle:
    cache = RewardCache(tmp_path / "rewards.sqlite") if tmp_path is not None else None
    endpoint = RewardEndpoint(url, protocol_for(url, protocol), model, timeout=timeout, retries=retries,
                              batch_size=batch_size, concurrency=concurrency, cache=cache)
    return RewardServerOracle(endpoint, **kwargs)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_protocol_prefers_the_better_response_in_batches(protocol, tmp_path):
    prompts, good, bad = good_and_bad(6)
    with RewardServer(per_token=protocol == "vllm-pooling") as server:
        oracle = make_oracle(server.url(PATHS[protocol]), tmp_path=tmp_path, deterministic=True)
        verdicts = oracle.compare(prompts, good, bad)
        assert [v.winner for v in verdicts] == ["a"] * 6
        expected = [torch.sigmoid(torch.tensor(prompt_reward(p, g) - prompt_reward(p, b))).item()
                    for p, g, b in zip(prompts, good, bad)]
        assert [v.prob_a for v in verdicts] == pytest.approx(expected)  # Bradley-Terry at temperature 1
        assert server.batch_sizes == [4, 4, 4]  # 12 texts, 4 per request
        unit = PROTOCOLS[protocol].cost_unit
        assert all(v.cost_unit == unit and v.cost > 0 for v in verdicts)
        if unit == "texts":
            assert {v.cost for v in verdicts} == {2.0}
        # Asked again (another run sharing the cache): no request, nothing paid.
        again = make_oracle(server.url(PATHS[protocol]), tmp_path=tmp_path, deterministic=True)
        assert [v.winner for v in again.compare(prompts, good, bad)] == ["a"] * 6
        assert server.requests == 3 and again.endpoint.stats["cache_hits"] == 12
        assert all(v.cost == 0 for v in again.compare(prompts, good, bad))


def test_texts_seen_twice_are_scored_once_and_requests_overlap():
    prompts, good, bad = good_and_bad(8)
    with RewardServer(delay=0.3) as server:
        oracle = make_oracle(server.url("/get_reward"), batch_size=2, concurrency=3)
        verdicts = oracle.compare(prompts + prompts[:2], good + good[:2], bad + bad[:2])
        assert server.texts_scored == 16  # the two repeated pairs are not scored again
        assert [v.cost for v in verdicts[-2:]] == [0.0, 0.0]
        assert 2 <= server.max_in_flight <= 3


def test_a_failing_batch_is_retried_then_skipped_and_nan_is_no_answer():
    prompts, good, bad = good_and_bad(3)
    prompts[0] += " @503x1"  # fails once, then answers
    prompts[1] += " @503x99"  # fails beyond the retries
    prompts[2] += " @nan"
    with RewardServer() as server:
        oracle = make_oracle(server.url("/get_reward"), batch_size=1, retries=1, deterministic=True)
        good_first = oracle.compare(prompts[:1], good[:1], bad[:1])
        assert good_first[0].winner == "a"
        verdicts = oracle.compare(prompts[1:], good[1:], bad[1:])
    assert [v.winner for v in verdicts] == [None, None]
    assert "HTTP 503" in verdicts[0].reason and "non-finite" in verdicts[1].reason
    assert "NaN" in oracle.no_answer_advice(verdicts[1].reason)


def test_configuration_mistakes_and_malformed_replies_are_one_line_errors():
    prompts, good, bad = good_and_bad(1)
    with RewardServer() as server:
        with pytest.raises(UserError, match=r"not found \(HTTP 404.*check --reward-url"):
            make_oracle(server.url("/get_reward/wrong"), "openrlhf").compare(prompts, good, bad)
        with pytest.raises(UserError, match=r"model 'other' not found"):
            make_oracle(server.url("/pooling"), model="other").compare(prompts, good, bad)
        # The OpenRLHF protocol sent to vLLM's score endpoint: refused (400) at the first request.
        with pytest.raises(UserError, match=r"answered none of 1 requests \(last error: HTTP 400.*--reward-protocol"):
            make_oracle(server.url("/score"), "openrlhf").compare(prompts, good, bad)
    shape = r'shape the vllm-pooling protocol does not have \(no "data" list.*\{"oops": true\}; check --reward-protocol'
    with RewardServer(malformed=True) as server, pytest.raises(UserError, match=shape):
        make_oracle(server.url("/pooling")).compare(prompts, good, bad)
    embedding = r"holds 3 numbers, not one reward \(an embedding model\?\)"
    with RewardServer(embedding=True) as server, pytest.raises(UserError, match=embedding):
        make_oracle(server.url("/pooling")).compare(prompts, good, bad)
    with RewardServer(api_key="right") as server, pytest.raises(UserError, match=r"refused the API key.*--reward-api"):
        make_oracle(server.url("/get_reward")).compare(prompts, good, bad)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/get_reward"
    with pytest.raises(UserError, match="answered none of 1 requests"):
        make_oracle(closed, retries=0).compare(prompts, good, bad)
    with pytest.raises(ConfigError, match="cannot tell the protocol"):
        protocol_for("http://localhost:8000/reward", "auto")
    with pytest.raises(ConfigError, match="full http"):
        make_oracle("localhost:5000/get_reward", "openrlhf")
    with pytest.raises(ConfigError, match="needs --reward-url"):
        build_oracle("reward-server", RunConfig(oracle="reward-server"))


def test_factory_with_a_template_file_and_a_key(tmp_path, monkeypatch):
    template = tmp_path / "rm-template.txt"
    template.write_text("{prompt}\n{response}")
    monkeypatch.setenv("MY_RM_KEY", "right")
    prompts, good, bad = good_and_bad(2)
    with RewardServer(api_key="right") as server:
        config = RunConfig(oracle="reward-server", reward_url=server.url("/v1/score"), reward_template=str(template),
                           reward_api_key_env="MY_RM_KEY", reward_cache=str(tmp_path / "c.sqlite"),
                           oracle_deterministic=True, oracle_max_cost=1000)
        oracle = build_oracle("reward-server", config)
        assert oracle.endpoint.protocol.name == "vllm-score" and oracle.endpoint.template == "{prompt}\n{response}"
        assert [v.winner for v in oracle.compare(prompts, good, bad)] == ["a", "a"]
