"""The oracles' settings and their checks (docs/oracles/). A leaf: imports nothing from sealign.

An oracle's ``build(config: OracleSettings, seed_offset)`` is handed the run's whole config (``RunConfig``
inherits every group here); it is annotated with the oracles' own group so that ``oracles/`` never
imports ``config.py``, which sits above it. Besides these groups' fields a build reads only the run's
``seed``, ``task``, ``device``, ``dtype``, ``cache_dir``, ``name`` and ``run_dir``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class OracleSettings:
    """Who answers the queries, and the options of the simulated and model oracles."""

    oracle: str = "bt-simulator"
    reward_fn: str = "builtin"
    """Scalar reward behind the simulator, the rule oracle and the evaluation judge: 'builtin' (the
    task's, see --task) or an import path 'module:function(prompt, response)'."""
    oracle_temperature: float = 0.1
    """Bradley-Terry temperature: P(a > b) = sigmoid((r_a - r_b) / T)."""
    oracle_deterministic: bool = False
    """Answer the likelier side instead of sampling it."""
    oracle_consistent: bool = False
    """bt-simulator: the same question always gets the same answer (a rater who remembers); off, a
    question asked again at another step is a fresh draw (Asghari et al. 2026 sec. 3.2)."""
    oracle_max_cost: float = 0.0
    """Stop asking once the oracle's answers cost this much in its own unit (dollars for a priced
    judge, tokens, rater seconds); checked between batches; 0 = no limit (see docs/oracles)."""
    oracle_max_silent_steps: int = 3
    """Stop the run with a one-line error once the oracle has answered none of the questions of this
    many steps in a row (a judge that never gives its verdict, a server down or misconfigured),
    rather than spend the budget on no answers; 0 = never stop. Human raters are never stopped."""
    oracle_model: str = ""
    """reward-model / pairwise oracles: a local save_pretrained folder or a Hub model name."""
    oracle_batch_size: int = 16
    """Sequences per forward pass of a model oracle (reward-model, pairwise)."""
    oracle_max_length: int = 2048
    """Token limit of one model-oracle input; longer inputs are truncated from the left."""
    pairwise_order: Literal["both", "random"] = "both"
    """pairwise oracle: average both presentation orders, or show one random order per query."""

    def checks(self) -> list[tuple[bool, str]]:
        """(ok, message) pairs; ``RunConfig.validate`` raises the first message that is not ok."""
        return [
            (self.oracle_temperature > 0, f"oracle_temperature must be > 0 (got {self.oracle_temperature})"),
            (self.oracle_max_silent_steps >= 0,
             f"oracle_max_silent_steps must be >= 0; 0 never stops (got {self.oracle_max_silent_steps})"),
        ]


@dataclass
class JudgeSettings:
    """The LLM-judge oracle (docs/oracles/judge.md)."""

    judge_url: str = "https://api.openai.com/v1"
    """judge oracle: base URL of an OpenAI-compatible chat-completions endpoint."""
    judge_model: str = "gpt-4o-mini"
    judge_api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the judge's API key (unset: no key is sent, as for a local server)."""
    judge_template: str = ""
    """The judge prompt: 'mt-bench' (the default when empty), 'letter' (short, a one-letter answer: for a small
    local judge), or a file with {prompt}, {response_a}, {response_b}."""
    judge_both_orders: bool = True
    """Ask each question in both orders to cancel the judge's position bias (costs twice)."""
    judge_concurrency: int = 8
    judge_timeout: float = 60.0
    """Seconds to wait for one judge reply before retrying."""
    judge_retries: int = 5
    """Retries (exponential backoff) on timeouts, 429 and 5xx before a query is skipped."""
    judge_cache: str = ""
    """SQLite cache of judge replies; empty = CACHE_DIR/judge-cache.sqlite, 'off' = none."""
    judge_max_tokens: int = 256
    """Reply length limit: room for a short explanation before the verdict."""
    judge_verdicts: Literal["text", "logprobs"] = "text"
    """How a verdict is read: the [[A]] / [[B]] / [[C]] mark in the reply, or P(A) against P(B) from the
    log-probabilities of the verdict token (a soft label; endpoints that return logprobs), falling back
    to the text where a reply has none."""
    judge_price_in: float = 0.0
    """Dollars per million prompt tokens; with judge_price_out > 0 costs are logged in usd, else in tokens."""
    judge_price_out: float = 0.0
    """Dollars per million completion tokens."""


@dataclass
class RewardServerSettings:
    """The reward-server oracle: a reward model behind OpenRLHF's serve_rm or vLLM's pooling / score API
    (docs/oracles/reward-server.md). --oracle-model names the served model, --oracle-batch-size the texts
    per request, --oracle-temperature / --oracle-deterministic turn two rewards into a preference."""

    reward_url: str = ""
    """reward-server oracle: the scoring endpoint's full URL: http://HOST:5000/get_reward (OpenRLHF),
    http://HOST:8000/pooling or http://HOST:8000/score (vLLM)."""
    reward_protocol: Literal["auto", "openrlhf", "vllm-pooling", "vllm-score"] = "auto"
    """How the server is asked; auto: from the URL's path (/get_reward, /pooling, /score)."""
    reward_template: str = "{prompt}\n{response}"
    """How a prompt and a response become the one text the reward model scores: a string or a file with
    {prompt} and {response} (write out the model's chat template); the score API gets the pair as is."""
    reward_api_key_env: str = "REWARD_API_KEY"
    """Environment variable holding the reward server's key (unset: none; local servers want none)."""
    reward_concurrency: int = 4
    """Requests in flight at once."""
    reward_timeout: float = 60.0
    """Seconds to wait for one request's rewards before retrying."""
    reward_retries: int = 5
    """Retries (exponential backoff, Retry-After honoured) on timeouts, 429 and 5xx before a batch is skipped."""
    reward_cache: str = ""
    """SQLite cache of rewards by text; empty = CACHE_DIR/reward-cache.sqlite, 'off' = none."""


@dataclass
class HumanSettings:
    """The human oracle and its raters (docs/oracles/human.md)."""

    human_db: str = ""
    """human oracle: queue database shared with `sealign serve-feedback`; empty = RUN_DIR/human-queue.sqlite."""
    human_timeout: float = 3600.0
    """Seconds to wait for raters' answers to one batch; unanswered pairs are skipped."""
    human_max_pending: int = 64
    """Pairs waiting for raters at once; a larger batch is shown in chunks."""
    human_raters_per_pair: int = 1
    """Distinct raters asked about each pair (>1 gives inter-rater agreement; majority wins)."""
