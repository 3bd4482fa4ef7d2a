"""Rewards from a reward model behind an HTTP server (OpenRLHF's serve_rm, vLLM's pooling and score APIs).

The texts of a call are scored in batches of ``batch_size``, ``concurrency`` batches in flight,
over the `openai` client's transport (``transport.py``: retries with backoff and ``Retry-After``,
timeouts, pooled connections, one line for a wrong key, URL or model). Each reward is cached in
SQLite by (URL, protocol, model, text), so a text is never scored twice, across runs too; a text
seen twice in one call is scored once. A reply in another shape than the protocol's stops the run
with one line (the wrong ``--reward-protocol``, most likely), and so does a server that has never
answered (wrong URL, server down); a batch that fails after the retries gets no rewards, and its
pairs no answer.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from sealign.errors import ConfigError, UserError
from sealign.oracles.reward_protocols import MalformedReply, RewardProtocol
from sealign.oracles.transport import Flags, RequestFailed, one_line_errors, openai_client
from sealign.records.sqlite_files import open_shared

FLAGS = Flags(url="--reward-url", model="--oracle-model", key="--reward-api-key-env")
WHAT = "reward server"


@dataclass(frozen=True)
class Scored:
    """One text's reward (None: none came back, ``error`` says why) and what scoring it cost."""

    reward: float | None
    cost: float = 0.0
    cached: bool = False
    error: str = ""


class RewardCache:
    """Rewards by text key in SQLite (WAL: several runs may share one cache file)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = threading.Lock()
        try:
            self.db = open_shared(self.path, "rewards", "a reward cache")
            self.db.execute("CREATE TABLE IF NOT EXISTS rewards (key TEXT PRIMARY KEY, reward REAL NOT NULL, "
                            "created REAL NOT NULL)")
        except (OSError, sqlite3.DatabaseError) as err:
            raise UserError(f"reward cache {self.path} cannot be opened ({err}); set --reward-cache to "
                            "another file or 'off'") from err

    def get(self, key: str) -> float | None:
        with self.lock:
            row = self.db.execute("SELECT reward FROM rewards WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, reward: float) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO rewards VALUES (?, ?, ?)", (key, reward, time.time()))


class RewardEndpoint:
    def __init__(self, url: str, protocol: RewardProtocol, model: str = "", api_key: str | None = None, *,
                 template: str = "{prompt}\n{response}", timeout: float = 60.0, retries: int = 5,
                 batch_size: int = 16, concurrency: int = 4, cache: RewardCache | None = None):
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"reward URL {url!r} must be a full http:// or https:// URL, e.g. "
                              "http://localhost:5000/get_reward")
        if "{response}" not in template:
            raise ConfigError(f"reward template {template[:60]!r} lacks {{response}}")
        if batch_size < 1 or concurrency < 1 or timeout <= 0 or retries < 0:
            raise ConfigError("oracle_batch_size and reward_concurrency must be >= 1, reward_timeout > 0, "
                              "reward_retries >= 0")
        self.url, self.protocol, self.model, self.api_key = url, protocol, model, api_key
        self.template = template
        self.timeout, self.retries = timeout, retries
        self.batch_size, self.concurrency = batch_size, concurrency
        self.cache = cache
        self.client = openai_client(f"{parts.scheme}://{parts.netloc}", api_key, timeout, retries, f"the {WHAT}")
        self.stats: Counter = Counter()  # requests, replies, texts scored, cache hits, tokens: for logs and tests
        self._lock = threading.Lock()

    def text(self, prompt: str, response: str) -> str:
        # Plain replacement, not str.format: a chat template's braces need no escaping.
        return self.template.replace("{prompt}", prompt).replace("{response}", response)

    def key(self, prompt: str, response: str) -> str:
        # The score API reads the pair itself; the others the templated text.
        scored = [prompt, response] if self.protocol.name == "vllm-score" else self.text(prompt, response)
        return hashlib.sha256(json.dumps([self.url, self.protocol.name, self.model, scored]).encode()).hexdigest()

    def rewards(self, prompts: list[str], responses: list[str]) -> list[Scored]:
        """One ``Scored`` per (prompt, response), in order; cached and repeated texts are not paid again."""
        pairs = list(zip(prompts, responses, strict=True))
        results: dict[tuple[str, str], Scored] = {}
        todo = []
        for pair in dict.fromkeys(pairs):
            hit = self.cache.get(self.key(*pair)) if self.cache else None
            if hit is not None:
                results[pair] = Scored(hit, cached=True)
            else:
                todo.append(pair)
        batches = [todo[i: i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        if batches:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batches))) as pool:
                for batch, scored in zip(batches, pool.map(self.score_batch, batches)):
                    results.update(zip(batch, scored))
        with self._lock:
            self.stats["cache_hits"] += len(results) - len(todo)
        if todo and self.stats["replies"] == 0:
            # A server that has never answered is misconfigured far more often than down: say so now.
            raise UserError(f"the {WHAT} at {self.url} answered none of {len(batches)} requests (last error: "
                            f"{results[todo[-1]].error}); check --reward-url, --reward-protocol and that the "
                            "server is up")
        out, paid = [], set()
        for pair in pairs:  # a repeated text shares the first one's reward, and is not paid again
            out.append(results[pair] if pair not in paid else replace(results[pair], cost=0.0, cached=True))
            paid.add(pair)
        return out

    def score_batch(self, batch: list[tuple[str, str]]) -> list[Scored]:
        prompts, responses = [p for p, _ in batch], [r for _, r in batch]
        texts = [self.text(p, r) for p, r in batch]
        body = self.protocol.request(self.model, prompts, responses, texts)
        try:
            with one_line_errors(f"the {WHAT}", self.url, self.model, bool(self.api_key), self.timeout,
                                 self.retries, FLAGS):
                reply = self.client.post(self.url, cast_to=object, body=body)
        except RequestFailed as err:
            with self._lock:
                self.stats["requests"] += err.attempts
            return [Scored(None, error=str(err))] * len(batch)
        except ValueError as err:  # a 200 whose body is not JSON
            raise UserError(f"the {WHAT} at {self.url} replied with something that is not JSON ({err}); check "
                            "--reward-url") from err
        try:
            rewards, tokens = self.protocol.read(reply, len(batch))
        except MalformedReply as err:
            raise UserError(f"the {WHAT} at {self.url} replied in a shape the {self.protocol.name} protocol does "
                            f"not have ({err}): {json.dumps(reply)[:120]}; check --reward-protocol") from err
        costs = self.costs(tokens, [p + r if self.protocol.name == "vllm-score" else t
                                    for p, r, t in zip(prompts, responses, texts)])
        with self._lock:
            self.stats["requests"] += 1
            self.stats["replies"] += 1
            self.stats["texts"] += len(batch)
            self.stats["tokens"] += tokens
        for pair, reward in zip(batch, rewards):
            if self.cache and math.isfinite(reward):  # a NaN is a glitch of the moment, not the text's reward
                self.cache.put(self.key(*pair), reward)
        return [Scored(reward, cost) for reward, cost in zip(rewards, costs)]

    def costs(self, tokens: int, texts: list[str]) -> list[float]:
        """Each text's share of the batch's cost: its tokens (the batch's, split by length) or one text."""
        if self.protocol.cost_unit == "texts":
            return [1.0] * len(texts)
        total = sum(len(t) for t in texts) or 1
        return [tokens * len(t) / total for t in texts]
