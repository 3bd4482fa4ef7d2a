"""A small client for OpenAI-compatible chat-completions endpoints, with retries and a reply cache.

Standard library only (urllib + sqlite3), so the judge oracle needs no extra install. What it adds
over a bare POST is what a long alignment run needs from a paid, flaky remote service:

- retries with exponential backoff and jitter on timeouts, dropped connections, 429, 5xx and
  malformed replies (honouring ``Retry-After``), then a clean "no answer" instead of an exception;
- configuration mistakes (401/403 wrong key, 404 wrong URL or model) stop the run at once with one
  line: no amount of retrying fixes them, and silently skipping every query would waste the run;
- an on-disk SQLite cache keyed by everything that determines the reply, so the same question is
  never paid twice (across runs too: the cache lives in the shared cache directory by default).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sealign.errors import UserError
from sealign.sqlite_files import open_shared

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


@dataclass(frozen=True)
class Reply:
    """One completion, or why there is none (``text is None``)."""

    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    error: str = ""
    attempts: int = 0


class TransientError(Exception):
    """Worth another try: the same request may well succeed a moment later."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


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
        except (OSError, sqlite3.DatabaseError) as err:
            raise UserError(f"judge cache {self.path} cannot be opened ({err}); set --judge-cache to "
                            "another file or 'off'") from err

    def get(self, key: str) -> Reply | None:
        with self.lock:
            row = self.db.execute(
                "SELECT text, prompt_tokens, completion_tokens FROM replies WHERE key = ?", (key,)
            ).fetchone()
        return Reply(row[0], row[1], row[2], cached=True) if row else None

    def put(self, key: str, reply: Reply) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?)",
                            (key, reply.text, reply.prompt_tokens, reply.completion_tokens, time.time()))

    def close(self) -> None:
        with self.lock:
            self.db.close()


class ChatEndpoint:
    """POST {base_url}/chat/completions, retried; thread-safe (one request per calling thread)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, timeout: float = 60.0,
                 retries: int = 5, backoff: float = 1.0, max_backoff: float = 60.0,
                 cache: ReplyCache | None = None, sleep=time.sleep):
        if not base_url.startswith(("http://", "https://")):
            raise UserError(f"judge URL {base_url!r} must start with http:// or https://")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key = model, api_key
        self.timeout, self.retries = timeout, retries
        self.backoff, self.max_backoff = backoff, max_backoff
        self.cache = cache
        self.sleep = sleep
        self._jitter = random.Random(0)

    def body(self, messages: list[dict], max_tokens: int) -> dict:
        # temperature 0: a judge should give the same answer to the same question (and the cache relies on it)
        return {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens}

    def cache_key(self, body: dict) -> str:
        # The URL and everything in the body decide the reply; the API key does not.
        return hashlib.sha256(json.dumps([self.url, body], sort_keys=True).encode()).hexdigest()

    def complete(self, messages: list[dict], max_tokens: int) -> Reply:
        """The reply to ``messages``, from the cache when it has it; never raises for transient trouble."""
        body = self.body(messages, max_tokens)
        key = self.cache_key(body)
        if self.cache and (hit := self.cache.get(key)):
            return hit
        error, retry_after = "", None
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self._delay(attempt, retry_after))
            try:
                reply = self._post(body)
            except TransientError as err:
                error, retry_after = str(err), err.retry_after
                continue
            except RequestRefused as err:
                return Reply(None, error=str(err), attempts=attempt + 1)
            reply = Reply(reply.text, reply.prompt_tokens, reply.completion_tokens, attempts=attempt + 1)
            if self.cache:
                self.cache.put(key, reply)
            return reply
        return Reply(None, error=f"{error} (after {self.retries + 1} attempts)", attempts=self.retries + 1)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        delay *= 0.5 + 0.5 * self._jitter.random()  # jitter: concurrent retries do not stampede together
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        return delay

    def _post(self, body: dict) -> Reply:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            self._raise_for_status(err)
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, ConnectionError) as err:
            reason = getattr(err, "reason", err)
            raise TransientError(f"timeout after {self.timeout:g}s" if isinstance(reason, TimeoutError)
                                 else f"connection error: {reason}") from err
        try:
            data = json.loads(raw)
            text = data["choices"][0]["message"]["content"]
            usage = data.get("usage") or {}
            if not isinstance(text, str):
                raise TypeError("content is not a string")
            return Reply(text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise TransientError(f"malformed reply ({type(err).__name__}: {str(err)[:80]})") from err

    def _raise_for_status(self, err: urllib.error.HTTPError):
        detail = _error_detail(err)
        if err.code in RETRYABLE_STATUS:
            raise TransientError(f"HTTP {err.code}{detail}", _retry_after(err.headers.get("Retry-After")))
        if err.code in (401, 403):
            raise UserError(f"judge endpoint {self.url} refused the API key (HTTP {err.code}{detail}); "
                            "check --judge-api-key-env and that variable")
        if err.code == 404:
            raise UserError(f"judge endpoint {self.url} or model {self.model!r} not found (HTTP 404{detail}); "
                            "check --judge-url (it should end in /v1) and --judge-model")
        # Other 4xx (400 context too long, 422, ...) concern this one request: no answer, no retry.
        raise RequestRefused(f"HTTP {err.code}{detail}")


class RequestRefused(Exception):
    """Refused for this request only (HTTP 400, 413, 422, ...); retrying would get the same refusal."""


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _error_detail(err: urllib.error.HTTPError) -> str:
    try:
        text = err.read().decode(errors="replace").strip()
    except Exception:  # the body of an error reply is a courtesy; never fail on it
        return ""
    return f": {text[:120]}" if text else ""
