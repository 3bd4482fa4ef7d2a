"""How each kind of reward server is asked for rewards, and how its reply is read.

- ``openrlhf`` (``python -m openrlhf.cli.serve_rm``): POST /get_reward
  ``{"query": [text], "prompts": [prompt]}`` -> ``{"rewards": [float], ...}``;
- ``vllm-pooling`` (``vllm serve RM --runner pooling``): POST /pooling ``{"model", "input": [text]}``
  -> ``{"data": [{"index", "data"}], "usage": {"prompt_tokens"}}``;
- ``vllm-score`` (a cross-encoder served by vLLM): POST /score or /v1/score
  ``{"model", "text_1": [prompt], "text_2": [response]}`` -> ``{"data": [{"index", "score"}], "usage"}``.

A text is the prompt and the response put together by the reward template (the format the reward
model was trained on, its chat template written out); the score API gets them as a pair. A
pooling reply's ``data`` is one number, a one-number list (a sequence classifier), or one such
per token (a reward model with ALL pooling: the last token's is the reward). A reply of another
shape is ``MalformedReply``: most likely the wrong protocol for this server, which the caller
stops on with one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from sealign.errors import ConfigError


class MalformedReply(Exception):
    """A reply without the rewards the protocol promises (its shape, or its count)."""


@dataclass(frozen=True)
class RewardProtocol:
    name: str
    paths: tuple[str, ...]
    """URL paths this protocol is served at (for --reward-protocol auto)."""
    cost_unit: str
    """'tokens' when the server reports them (usage.prompt_tokens), else 'texts' scored."""
    request: Callable[[str, list[str], list[str], list[str]], dict]
    """(model, prompts, responses, texts) -> the JSON body."""
    read: Callable[[object, int], tuple[list[float], int]]
    """(the JSON reply, how many rewards it must hold) -> (rewards in order, tokens read or 0)."""


def with_model(model: str, body: dict) -> dict:
    # No model: vLLM answers with the one model it serves.
    return {"model": model, **body} if model else body


def read_openrlhf(reply, n: int) -> tuple[list[float], int]:
    rewards = reply.get("rewards") if isinstance(reply, dict) else None
    if not isinstance(rewards, list):
        raise MalformedReply('no "rewards" list')
    return [number(r, f"rewards[{i}]") for i, r in enumerate(check_count(rewards, n))], 0


def read_vllm(field: str) -> Callable[[object, int], tuple[list[float], int]]:
    """The reader of a vLLM reply whose ``data`` items hold the reward in ``field``."""

    def read(reply, n: int) -> tuple[list[float], int]:
        data = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(data, list) or not all(isinstance(d, dict) and field in d for d in data):
            raise MalformedReply(f'no "data" list of items with "{field}"')
        items = sorted(check_count(data, n), key=lambda d: d.get("index", 0))
        rewards = [scalar(d[field], f"data[{i}].{field}") for i, d in enumerate(items)]
        usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        return rewards, int(usage.get("prompt_tokens") or 0)

    return read


def scalar(value, where: str) -> float:
    """A reward from a pooling output: x, [x], or per token [[x], ..., [x]] (the last token's)."""
    if isinstance(value, list) and value and isinstance(value[-1], list):
        value = value[-1]
    if isinstance(value, list):
        if len(value) != 1:
            raise MalformedReply(f"{where} holds {len(value)} numbers, not one reward (an embedding model?)")
        value = value[0]
    return number(value, where)


def number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedReply(f"{where} is {str(value)[:40]!r}, not a number")
    return float(value)  # NaN / inf pass: the oracle abstains on that pair, the run goes on


def check_count(items: list, n: int) -> list:
    if len(items) != n:
        raise MalformedReply(f"{len(items)} rewards for {n} texts")
    return items


PROTOCOLS = {p.name: p for p in [
    RewardProtocol("openrlhf", ("/get_reward",), "texts",
                   lambda model, prompts, responses, texts: {"query": texts, "prompts": prompts}, read_openrlhf),
    RewardProtocol("vllm-pooling", ("/pooling",), "tokens",
                   lambda model, prompts, responses, texts: with_model(model, {"input": texts}), read_vllm("data")),
    RewardProtocol("vllm-score", ("/score", "/v1/score"), "tokens",
                   lambda model, prompts, responses, texts: with_model(model, {"text_1": prompts, "text_2": responses}),
                   read_vllm("score")),
]}


def protocol_for(url: str, name: str) -> RewardProtocol:
    """The protocol named, or for 'auto' the one whose path ``url`` ends in."""
    if name != "auto":
        if name not in PROTOCOLS:
            raise ConfigError(f"unknown reward protocol {name!r}; choose one of auto, {', '.join(PROTOCOLS)}")
        return PROTOCOLS[name]
    path = urlparse(url).path.rstrip("/")
    for protocol in PROTOCOLS.values():
        if any(path.endswith(p) for p in protocol.paths):
            return protocol
    raise ConfigError(f"cannot tell the protocol of reward URL {url!r} from its path; end it in /get_reward "
                      "(OpenRLHF), /pooling or /score (vLLM), or set --reward-protocol")
