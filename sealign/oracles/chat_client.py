"""OpenAI-compatible chat completions through the `openai` client library, with a reply cache.

The transport (timeouts, retries with backoff and ``Retry-After``, pooled connections, one-line
errors for a wrong key, URL or model) is ``transport.py``'s. What this module adds is what a long
alignment run needs from a paid, flaky remote judge:

- a reply that is not a chat completion (a body that is not JSON, no choices) is retried too,
  then a clean "no answer" (``Reply.text is None``) instead of an exception;
- an on-disk SQLite cache keyed by everything that determines the reply, so the same question is
  never paid twice (across runs too: the cache lives in the shared cache directory by default);
- the log-probabilities of the reply's tokens, when asked for (verdicts from probabilities).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sealign.errors import UserError
from sealign.oracles.transport import Flags, RequestFailed, one_line_errors, openai_client
from sealign.records.sqlite_files import open_shared

FLAGS = Flags(url="--judge-url (it should end in /v1)", model="--judge-model", key="--judge-api-key-env")


@dataclass(frozen=True)
class TokenChoice:
    """One generated token, its log-probability and the most likely tokens at its position."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Reply:
    """One completion, or why there is none (``text is None``)."""

    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    error: str = ""
    attempts: int = 0
    finish_reason: str = ""
    """'stop', or 'length' when the reply was cut at max_tokens (a verdict may be missing for that)."""
    logprobs: tuple[TokenChoice, ...] | None = None
    """Per generated token, when asked for and the endpoint returns them."""


class ReplyCache:
    """Replies by request key in SQLite (WAL: several runs may share one cache file)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = threading.Lock()
        try:
            self.db = open_shared(self.path, "replies", "a judge cache")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
                "prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created REAL NOT NULL)"
            )
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(replies)")}
            for column in ("finish_reason TEXT", "logprobs TEXT"):  # added later: older cache files lack them
                if column.split()[0] not in columns:
                    self.db.execute(f"ALTER TABLE replies ADD COLUMN {column}")
        except (OSError, sqlite3.DatabaseError) as err:
            raise UserError(f"judge cache {self.path} cannot be opened ({err}); set --judge-cache to "
                            "another file or 'off'") from err

    def get(self, key: str) -> Reply | None:
        with self.lock:
            row = self.db.execute("SELECT text, prompt_tokens, completion_tokens, finish_reason, logprobs "
                                  "FROM replies WHERE key = ?", (key,)).fetchone()
        if not row:
            return None
        logprobs = tuple(TokenChoice(t, lp, tuple(map(tuple, top))) for t, lp, top in json.loads(row[4])) \
            if row[4] else None
        return Reply(row[0], row[1], row[2], cached=True, finish_reason=row[3] or "", logprobs=logprobs)

    def put(self, key: str, reply: Reply) -> None:
        logprobs = json.dumps([[c.token, c.logprob, c.top] for c in reply.logprobs]) if reply.logprobs else None
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO replies (key, text, prompt_tokens, completion_tokens, created, "
                            "finish_reason, logprobs) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (key, reply.text, reply.prompt_tokens, reply.completion_tokens, time.time(),
                             reply.finish_reason, logprobs))

    def close(self) -> None:
        with self.lock:
            self.db.close()


class MalformedReply(Exception):
    """A 200 reply that is not a chat completion (not JSON, no choices, no text)."""


class ChatEndpoint:
    """{base_url}/chat/completions through one `openai.OpenAI` client; thread-safe.

    ``retries`` goes to the client (its backoff: 0.5 s doubling to 8 s, or the server's
    ``Retry-After`` up to two minutes); a malformed reply is retried here as often.
    ``top_logprobs`` > 0 asks for the log-probabilities of each generated token and its most
    likely alternatives (verdicts from probabilities; endpoints that ignore it reply without).
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, timeout: float = 60.0,
                 retries: int = 5, cache: ReplyCache | None = None, top_logprobs: int = 0,
                 malformed_backoff: float = 0.5, sleep=time.sleep):
        if not base_url.startswith(("http://", "https://")):
            raise UserError(f"judge URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model, self.api_key = model, api_key
        self.timeout, self.retries = timeout, retries
        self.cache = cache
        self.top_logprobs = top_logprobs
        self.malformed_backoff, self.sleep = malformed_backoff, sleep
        self.client = openai_client(self.base_url, api_key, timeout, retries)

    def body(self, messages: list[dict], max_tokens: int) -> dict:
        # temperature 0: a judge should give the same answer to the same question (and the cache relies on it)
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens}
        if self.top_logprobs:
            body |= {"logprobs": True, "top_logprobs": self.top_logprobs}
        return body

    def cache_key(self, body: dict) -> str:
        # The URL and everything in the body decide the reply; the API key does not.
        return hashlib.sha256(json.dumps([self.url, body], sort_keys=True).encode()).hexdigest()

    def complete(self, messages: list[dict], max_tokens: int) -> Reply:
        """The reply to ``messages``, from the cache when it has it; never raises for transient trouble."""
        body = self.body(messages, max_tokens)
        key = self.cache_key(body)
        if self.cache and (hit := self.cache.get(key)):
            return hit
        attempts, error = 0, ""
        for malformed_retry in range(self.retries + 1):
            if malformed_retry:
                self.sleep(min(8.0, self.malformed_backoff * 2 ** (malformed_retry - 1)))
            try:
                reply, tries = self._request(body)
            except RequestFailed as err:
                return Reply(None, error=str(err), attempts=attempts + err.attempts)
            except MalformedReply as err:
                attempts, error = attempts + 1, str(err)
                continue
            reply = Reply(reply.text, reply.prompt_tokens, reply.completion_tokens, attempts=attempts + tries,
                          finish_reason=reply.finish_reason, logprobs=reply.logprobs)
            if self.cache:
                self.cache.put(key, reply)
            return reply
        return Reply(None, error=f"{error} (after {attempts} attempts)", attempts=attempts)

    def _request(self, body: dict) -> tuple[Reply, int]:
        """One call of the client (its own retries included): the reply and the attempts it took."""
        with one_line_errors("judge endpoint", self.url, self.model, bool(self.api_key), self.timeout, self.retries,
                             FLAGS):
            raw = self.client.chat.completions.with_raw_response.create(**body)
        tries = getattr(raw, "retries_taken", 0) + 1
        try:
            completion = raw.parse()
            choice = completion.choices[0]
            text = choice.message.content
            if not isinstance(text, str):
                raise TypeError("content is not a string")
            usage = completion.usage
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise MalformedReply(f"malformed reply ({type(err).__name__}: {str(err)[:80]})") from err
        return Reply(text, int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0)
                     or 0), finish_reason=choice.finish_reason or "", logprobs=token_choices(choice)), tries


def token_choices(choice) -> tuple[TokenChoice, ...] | None:
    """The reply's tokens with their log-probabilities, when the endpoint returned them."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    try:
        return tuple(TokenChoice(t.token, float(t.logprob), tuple((a.token, float(a.logprob))
                                                                  for a in (t.top_logprobs or ())))
                     for t in content)
    except (AttributeError, TypeError, ValueError):  # an endpoint's own idea of the shape: read as none
        return None
