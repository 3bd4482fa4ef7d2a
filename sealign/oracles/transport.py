"""The HTTP transport of the remote oracles (a judge, a reward server): the `openai` client library.

One ``openai.OpenAI`` client per endpoint brings timeouts, retries with exponential backoff and
jitter on timeouts, dropped connections, 408, 409, 429 and 5xx (honouring ``Retry-After``), and a
pooled HTTP connection shared by every thread; its generic ``post`` reaches endpoints that are not
OpenAI's (a reward server's ``/pooling`` or ``/get_reward``). ``one_line_errors`` turns its typed
errors into what the run does about them: a configuration mistake (401/403 key, 404 URL or model)
stops the run with one line naming the flag to fix; anything else is ``RequestFailed`` for this
request only, which the oracle turns into "no answer".
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass

from sealign.errors import UserError

NO_KEY = "no-key"
"""Sent when no API key is set: the client needs one, local servers ignore it (vLLM's docs use 'EMPTY')."""


def require_openai(what: str = "the judge"):
    try:
        import openai
    except ImportError as err:
        raise UserError(f"{what} needs the openai client library: pip install 'sealign[judge]'") from err
    return openai


def openai_client(base_url: str, api_key: str | None, timeout: float, retries: int, what: str = "the judge"):
    return require_openai(what).OpenAI(base_url=base_url, api_key=api_key or NO_KEY, timeout=timeout,
                                       max_retries=retries)


@dataclass(frozen=True)
class Flags:
    """The settings that fix each configuration mistake, named in its error line."""

    url: str
    model: str
    key: str


class RequestFailed(Exception):
    """No reply for this request (the client's retries spent, or a refusal retrying would not change)."""

    def __init__(self, reason: str, attempts: int):
        super().__init__(reason)
        self.attempts = attempts


@contextmanager
def one_line_errors(what: str, url: str, model: str, has_key: bool, timeout: float, retries: int, flags: Flags):
    """Runs one call of the client: configuration mistakes become a ``UserError``, the rest ``RequestFailed``."""
    openai = require_openai(what)
    try:
        yield
    except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
        unset = "" if has_key else " (the variable it names is unset)"
        raise UserError(f"{what} at {url} refused the API key (HTTP {err.status_code}{detail(err)}); "
                        f"check {flags.key}{unset}") from err
    except openai.NotFoundError as err:
        raise UserError(f"{what} at {url} or model {model!r} not found (HTTP 404{detail(err)}); "
                        f"check {flags.url} and {flags.model}") from err
    except openai.APITimeoutError as err:
        raise RequestFailed(f"timeout after {timeout:g}s", retries + 1) from err
    except openai.APIConnectionError as err:
        raise RequestFailed(f"connection error: {err.__cause__ or err}", retries + 1) from err
    except openai.APIStatusError as err:
        # 408, 409, 429 and 5xx were retried by the client; other 4xx (400 context too long, 422, ...)
        # concern this one request: no answer, no retry.
        retried = err.status_code in (408, 409, 429) or err.status_code >= 500
        raise RequestFailed(f"HTTP {err.status_code}{detail(err)}", retries + 1 if retried else 1) from err


def detail(err) -> str:
    """': <the start of the error body>' for a message, or ''."""
    body = getattr(err, "body", None)
    text = json.dumps(body) if isinstance(body, (dict, list)) else str(body or getattr(err, "message", "") or "")
    text = " ".join(text.split())
    return f": {text[:120]}" if text else ""
