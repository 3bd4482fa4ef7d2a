"""A reward model behind a server as the oracle: OpenRLHF's ``serve_rm`` or vLLM's pooling / score API.

Both responses of every pair are scored in one call of ``RewardEndpoint`` (batched, concurrent,
retried, cached; ``reward_client.py``), then the two rewards become a preference exactly as the
in-process ``reward-model`` oracle makes one: Bradley-Terry at ``--oracle-temperature``, sampled,
or with ``--oracle-deterministic`` the likelier side. A pair without both rewards (a batch that
failed after the retries, a NaN) is no answer. The cost is the server's tokens (vLLM) or the
texts scored (OpenRLHF reports no tokens); cached rewards are free.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sealign.errors import ConfigError
from sealign.oracles.base import Verdict, check_lengths
from sealign.oracles.reward_client import RewardCache, RewardEndpoint
from sealign.oracles.reward_model import verdict_from_rewards
from sealign.oracles.reward_protocols import protocol_for

if TYPE_CHECKING:
    from sealign.oracles.settings import OracleSettings


class RewardServerOracle:
    def __init__(self, endpoint: RewardEndpoint, *, temperature: float = 1.0, deterministic: bool = False,
                 seed: int = 0, name: str = "reward-server"):
        self.endpoint = endpoint
        self.temperature, self.deterministic = temperature, deterministic
        self.cost_unit = endpoint.protocol.cost_unit
        self.rng = np.random.default_rng(seed)
        self.name = name

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        check_lengths(prompts, responses_a, responses_b)
        n = len(prompts)
        if not n:
            return []
        scored = self.endpoint.rewards(prompts + prompts, responses_a + responses_b)
        verdicts = []
        for a, b in zip(scored[:n], scored[n:]):
            cost = a.cost + b.cost
            if a.reward is None or b.reward is None:
                verdicts.append(Verdict.abstain(a.error or b.error, cost, self.cost_unit))
            else:
                verdicts.append(verdict_from_rewards(a.reward, b.reward, self.temperature, self.deterministic,
                                                     self.rng, cost, self.cost_unit, "the reward server"))
        return verdicts

    def no_answer_advice(self, reason: str) -> str:
        """The fix for the commonest reason the server gives no reward (``SilenceWatch`` prints it)."""
        if reason.startswith("timeout"):
            return (f"fix: a longer --reward-timeout (now {self.endpoint.timeout:g}s), or fewer texts per request "
                    "(--oracle-batch-size)")
        if reason.startswith(("HTTP 400", "HTTP 413", "HTTP 422")):
            return "the server refused the request: texts longer than its limit, or a request too large?"
        if "non-finite" in reason:
            return "the reward model returned NaN / inf (its dtype, or a text it cannot read?)"
        return ""


def read_template(value: str) -> str:
    """--reward-template: a file holding the template, or the template itself."""
    path = Path(value).expanduser()
    if "{response}" not in value and len(value) < 4096 and path.is_file():
        return path.read_text()
    return value


def build(config: OracleSettings, seed_offset: int = 0) -> RewardServerOracle:
    if not config.reward_url:
        raise ConfigError("--oracle reward-server needs --reward-url, e.g. http://localhost:5000/get_reward "
                          "(OpenRLHF) or http://localhost:8000/pooling (vLLM)")
    cache = None
    if config.reward_cache != "off":
        from sealign.cache import default_cache_dir

        root = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
        cache = RewardCache(config.reward_cache or root / "reward-cache.sqlite")
    endpoint = RewardEndpoint(
        config.reward_url, protocol_for(config.reward_url, config.reward_protocol), config.oracle_model,
        os.environ.get(config.reward_api_key_env), template=read_template(config.reward_template),
        timeout=config.reward_timeout, retries=config.reward_retries, batch_size=config.oracle_batch_size,
        concurrency=config.reward_concurrency, cache=cache,
    )
    return RewardServerOracle(endpoint, temperature=config.oracle_temperature,
                              deterministic=config.oracle_deterministic, seed=config.seed + seed_offset)
