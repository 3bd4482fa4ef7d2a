"""LLM-as-judge over any OpenAI-compatible chat-completions endpoint (hosted API, vLLM, llama.cpp ...).

For each (prompt, a, b) the judge reads a prompt template (MT-Bench's pairwise style by default)
and ends its reply with ``[[A]]``, ``[[B]]`` or ``[[C]]`` (tie); with ``verdicts_from="logprobs"``
the verdict is read from the probabilities of that token instead (``verdicts.py``), falling back to
the text where the endpoint gives none. LLM judges favour one position,
so by default every question is asked in both orders and the two verdicts are averaged:
P(a > b) = mean over orders of 1 / 0.5 / 0 for a win / tie / loss of ``a`` (or of P(a wins)). Two orders that
disagree (pure position bias) average to a tie. Without ``both_orders`` one random order is shown.

A query that gets no usable reply in any order (timeouts and 5xx beyond the retries, a verdict
that cannot be parsed) is returned as ``Verdict.abstain``: counted, never logged as a preference.
The cost of every answer is its tokens, or dollars when prices are given; cached replies are free.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sealign.errors import ConfigError, UserError
from sealign.oracles.base import Verdict, check_lengths, winner_from_prob
from sealign.oracles.chat_client import ChatEndpoint, Reply, ReplyCache
from sealign.oracles.verdicts import parse_verdict, prob_first_wins

if TYPE_CHECKING:
    from sealign.oracles.settings import OracleSettings

DEFAULT_TEMPLATE = """\
Please act as an impartial judge and evaluate the quality of the responses provided by two AI \
assistants to the user request displayed below. Choose the assistant that follows the user's \
instructions and answers the request better, considering helpfulness, correctness, relevance and \
concision. Do not let the order in which the responses are presented, their length, or the names \
of the assistants influence your evaluation.

[User Request]
{prompt}

[The Start of Assistant A's Answer]
{response_a}
[The End of Assistant A's Answer]

[The Start of Assistant B's Answer]
{response_b}
[The End of Assistant B's Answer]

Give a short explanation (at most two sentences), then output your final verdict by strictly \
following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and \
"[[C]]" for a tie."""

LETTER_TEMPLATE = """\
Which response answers the request better?

[Request]
{prompt}

[Response A]
{response_a}

[Response B]
{response_b}

Answer with one letter: A or B."""
"""A short prompt for a small local judge: fewer tokens to read, and a verdict in its first token
(``--judge-max-tokens 1`` is enough; with ``--judge-verdicts logprobs`` it is read there)."""

TEMPLATES = {"mt-bench": DEFAULT_TEMPLATE, "letter": LETTER_TEMPLATE}
"""--judge-template by name; anything else is a file."""
PLACEHOLDERS = ("{prompt}", "{response_a}", "{response_b}")
VERDICTS_FROM = ("text", "logprobs")
TOP_LOGPROBS = 20  # the most OpenAI's API gives; enough to hold A, B and C in their spellings


def load_template(path: str) -> str:
    """The judge prompt: a built-in by name (empty: MT-Bench's), or from the file ``path``, checked for
    its three placeholders."""
    if not path or path in TEMPLATES:
        return TEMPLATES.get(path, DEFAULT_TEMPLATE)
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"judge template {path!r} not found")
    template = file.read_text()
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise ConfigError(f"judge template {path!r} lacks {', '.join(missing)} (it needs all of "
                          f"{', '.join(PLACEHOLDERS)})")
    return template


def render(template: str, prompt: str, first: str, second: str) -> str:
    # Plain replacement, not str.format: braces in a template (a JSON example) need no escaping.
    return template.replace("{prompt}", prompt).replace("{response_a}", first).replace("{response_b}", second)


class JudgeOracle:
    def __init__(self, endpoint: ChatEndpoint, *, template: str = DEFAULT_TEMPLATE, both_orders: bool = True,
                 concurrency: int = 8, max_tokens: int = 256, price_in: float = 0.0, price_out: float = 0.0,
                 verdicts_from: str = "text", seed: int = 0, name: str = "judge"):
        if concurrency < 1 or max_tokens < 1:
            raise ConfigError("judge_concurrency and judge_max_tokens must be >= 1")
        if price_in < 0 or price_out < 0:
            raise ConfigError("judge prices must be >= 0")
        if verdicts_from not in VERDICTS_FROM:
            raise ConfigError(f"judge_verdicts must be one of {', '.join(VERDICTS_FROM)} (got {verdicts_from!r})")
        if verdicts_from == "logprobs" and not endpoint.top_logprobs:
            raise ConfigError("verdicts from log-probabilities need an endpoint that asks for them (top_logprobs > 0)")
        self.endpoint, self.template = endpoint, template
        self.both_orders, self.concurrency, self.max_tokens = both_orders, concurrency, max_tokens
        self.price_in, self.price_out = price_in, price_out
        self.verdicts_from = verdicts_from
        self.cost_unit = "usd" if price_in or price_out else "tokens"
        self.rng = np.random.default_rng(seed)
        self.name = name
        self.stats: Counter = Counter()  # requests, cache hits, tokens, dollars, skips: for logs and tests
        self._lock = threading.Lock()

    def cost(self, reply: Reply) -> float:
        if reply.cached or reply.text is None:
            return 0.0  # a cache hit is not paid again; a failed request returns no usage to pay for
        if self.cost_unit == "usd":
            return (reply.prompt_tokens * self.price_in + reply.completion_tokens * self.price_out) / 1e6
        return float(reply.prompt_tokens + reply.completion_tokens)

    def ask(self, prompt: str, first: str, second: str) -> Reply:
        messages = [{"role": "user", "content": render(self.template, prompt, first, second)}]
        reply = self.endpoint.complete(messages, self.max_tokens)
        with self._lock:
            self.stats["requests"] += reply.attempts
            self.stats["retries"] += max(0, reply.attempts - 1)
            self.stats["cache_hits"] += reply.cached
            self.stats["failed"] += reply.text is None
            self.stats["replies"] += reply.text is not None
            if not reply.cached:
                self.stats["prompt_tokens"] += reply.prompt_tokens
                self.stats["completion_tokens"] += reply.completion_tokens
                self.stats["cost"] += self.cost(reply)
        return reply

    def read(self, reply: Reply) -> tuple[float | None, str]:
        """(P(the response shown first wins), why there is none): from the verdict token's
        probabilities when asked and given, else from the reply's text."""
        if reply.text is None:
            return None, reply.error
        if self.verdicts_from == "logprobs" and (prob := prob_first_wins(reply.logprobs)) is not None:
            self.stats["verdicts_from_logprobs"] += 1
            return prob, ""
        verdict = parse_verdict(reply.text)
        if verdict is None:
            cut = f" (reply cut at {self.max_tokens} tokens)" if reply.finish_reason == "length" else ""
            return None, f"unparseable verdict{cut}: {reply.text[:60]!r}"
        self.stats["verdicts_from_text"] += 1
        return {"a": 1.0, "tie": 0.5, "b": 0.0}[verdict], ""

    def no_answer_advice(self, reason: str) -> str:
        """The fix for the commonest reason a judge gives no answer (``SilenceWatch`` prints it)."""
        if reason.startswith("unparseable verdict"):
            fixes = ["give the judge a template it follows (--judge-template)"]
            if "reply cut at" in reason:
                fixes.insert(0, f"let it finish its reply (--judge-max-tokens, now {self.max_tokens})")
            if self.verdicts_from == "text":
                fixes.append("read verdicts from probabilities (--judge-verdicts logprobs)")
            else:
                fixes.append("use an endpoint that returns logprobs (this one gave none with the verdict)")
            return "fix: " + ", or ".join(fixes)
        if reason.startswith("timeout"):
            return f"fix: a longer --judge-timeout (now {self.endpoint.timeout:g}s) or a lower --judge-concurrency"
        if reason.startswith("HTTP 400"):
            return "the judge refused the request: a prompt longer than its context? (shorter --max-new-tokens)"
        return ""

    def compare(self, prompts: list[str], responses_a: list[str], responses_b: list[str],
                keys: list[str] | None = None) -> list[Verdict]:
        check_lengths(prompts, responses_a, responses_b)
        n = len(prompts)
        # Each question: (query index, a shown first?) for each order asked.
        if self.both_orders:
            asks = [(i, True) for i in range(n)] + [(i, False) for i in range(n)]
        else:
            asks = [(i, bool(first)) for i, first in enumerate(self.rng.random(n) < 0.5)]
        shown = [(prompts[i], responses_a[i], responses_b[i]) if a_first else (prompts[i], responses_b[i],
                 responses_a[i]) for i, a_first in asks]
        replies = self._ask_all(shown)
        if n and self.stats["replies"] == 0 and all(r.text is None for r in replies):
            # A judge that has never answered is misconfigured far more often than down: say so now
            # rather than skip every query of the run.
            raise UserError(f"the judge at {self.endpoint.url} answered none of {len(replies)} requests "
                            f"(last error: {replies[-1].error}); check --judge-url and that the server is up")
        scores: list[list[float]] = [[] for _ in range(n)]
        costs, reasons = [0.0] * n, [""] * n
        for (i, a_first), reply in zip(asks, replies):
            costs[i] += self.cost(reply)
            shown_first_wins, reason = self.read(reply)
            if shown_first_wins is None:
                reasons[i] = reason
                continue
            scores[i].append(shown_first_wins if a_first else 1.0 - shown_first_wins)
        verdicts = []
        for i in range(n):
            if not scores[i]:  # no order gave a verdict: say so rather than guess
                verdicts.append(Verdict.abstain(reasons[i], costs[i], self.cost_unit))
                continue
            # With one order failed the other is used alone: less bias-proof, far better than nothing.
            prob_a = float(np.mean(scores[i]))
            verdicts.append(Verdict(winner_from_prob(prob_a), prob_a, costs[i], self.cost_unit))
        with self._lock:
            self.stats["answered"] += sum(v.answered for v in verdicts)
            self.stats["skipped"] += sum(not v.answered for v in verdicts)
        return verdicts

    def _ask_all(self, shown: list[tuple[str, str, str]]) -> list[Reply]:
        """Replies in order, at most ``concurrency`` in flight; an identical question is asked once."""
        unique = list(dict.fromkeys(shown))
        if not unique:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(unique))) as pool:
            answers = dict(zip(unique, pool.map(lambda q: self.ask(*q), unique)))
        replies, paid = [], set()
        for q in shown:  # a repeated question shares the first one's reply, and is not paid again
            replies.append(answers[q] if q not in paid else replace(answers[q], cached=True))
            paid.add(q)
        return replies


def build(config: OracleSettings, seed_offset: int = 0) -> JudgeOracle:
    if config.judge_timeout <= 0 or config.judge_retries < 0:
        raise ConfigError("judge_timeout must be > 0 and judge_retries >= 0")
    cache = None
    if config.judge_cache != "off":
        from sealign.cache import default_cache_dir

        root = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
        cache = ReplyCache(config.judge_cache or root / "judge-cache.sqlite")
    endpoint = ChatEndpoint(config.judge_url, config.judge_model, os.environ.get(config.judge_api_key_env),
                            timeout=config.judge_timeout, retries=config.judge_retries, cache=cache,
                            top_logprobs=TOP_LOGPROBS if config.judge_verdicts == "logprobs" else 0)
    return JudgeOracle(
        endpoint, template=load_template(config.judge_template), both_orders=config.judge_both_orders,
        concurrency=config.judge_concurrency, max_tokens=config.judge_max_tokens,
        price_in=config.judge_price_in, price_out=config.judge_price_out, verdicts_from=config.judge_verdicts,
        seed=config.seed + seed_offset,
    )
