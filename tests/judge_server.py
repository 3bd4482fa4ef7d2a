"""A deterministic OpenAI-compatible judge served on 127.0.0.1, for tests (no network, no model).

It reads the judge prompt the ``judge`` oracle sends (the built-in template), finds the user
request and the two answers, and prefers the answer with the higher built-in reward
``sealign.tasks.summarize.prompt_reward`` (a tie when equal) — a perfect judge of the built-in task.

Markers in the *user request* script failures, per distinct request:
    @slowN     sleep N seconds before answering (the client times out)
    @429xK     answer 429 (Retry-After: 0) the first K times this request is seen, then normally
    @500xK     the same with 500
    @badjsonxK the same with a body that is not JSON
    @garbled   always reply with a text that holds no verdict
    @freetext  name the better answer without the verdict mark ("The answer is A: ..."), as weak judges do
    @biasA     always reply [[A]] (a judge with pure position bias)
    @nologprobs  ignore a request for log-probabilities (as `transformers serve` does)
A request with ``logprobs`` gets each word of the reply as a token, the verdict letter's alternatives
holding P(A) = sigmoid(10 (r_A - r_B)) and P(B) = 1 - P(A) (a sure but not certain judge). A reply
longer than ``max_tokens`` words is cut there, with ``finish_reason: "length"``.
Run alone (``python -m tests.judge_server --port 8011``) it serves until interrupted and prints its URL.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

from sealign.tasks.summarize import prompt_reward
from tests.local_http import LocalHTTPServer

SECTIONS = re.compile(
    r"\[User Request\]\n(?P<prompt>.*?)\n\n\[The Start of Assistant A's Answer\]\n(?P<a>.*?)\n"
    r"\[The End of Assistant A's Answer\]\n\n\[The Start of Assistant B's Answer\]\n(?P<b>.*?)\n"
    r"\[The End of Assistant B's Answer\]",
    re.DOTALL,
)


class JudgeServer(LocalHTTPServer):
    def __init__(self, reward_fn=prompt_reward, api_key: str | None = None, delay: float = 0.0, port: int = 0,
                 reply_for=None):
        self.reward_fn = reward_fn
        self.reply_for = reply_for  # (prompt, a, b) -> the reply's text, or None to judge: a scripted weak judge
        self.api_key = api_key
        self.delay = delay  # seconds each answer takes, so concurrency can be observed
        self.seen: Counter = Counter()
        self.requests = 0
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        super().__init__(_handler(self), port)

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1"

    def answer(self, content: str, max_tokens: int = 256, logprobs: bool = False) -> tuple[int, str]:
        """(HTTP status, body) for one judge prompt; see the module docstring."""
        match = SECTIONS.search(content)
        if match is None:
            return 200, _completion("I was not asked a question I understand.", content, max_tokens)
        prompt, a, b = match["prompt"], match["a"], match["b"]
        with self.lock:
            self.seen[content] += 1
            seen = self.seen[content]
        if slow := re.search(r"@slow([\d.]+)", prompt):
            time.sleep(float(slow[1]))
        for marker, status in (("429", 429), ("500", 500), ("badjson", 200)):
            failing = re.search(rf"@{marker}x(\d+)", prompt)
            if failing and seen <= int(failing[1]):
                return status, "{not json" if marker == "badjson" else json.dumps({"error": f"scripted {marker}"})
        logprobs = logprobs and "@nologprobs" not in prompt
        if self.reply_for is not None and (scripted := self.reply_for(prompt, a, b)) is not None:
            return 200, _completion(scripted, content, max_tokens, logprobs)
        if "@garbled" in prompt:
            return 200, _completion("Both answers have their merits.", content, max_tokens, logprobs)
        if "@biasA" in prompt:
            return 200, _completion("The first one reads better. [[A]]", content, max_tokens, logprobs, 0.9)
        r_a, r_b = self.reward_fn(prompt, a), self.reward_fn(prompt, b)
        p_a = 1.0 / (1.0 + math.exp(-10.0 * (r_a - r_b)))
        verdict = "A" if r_a > r_b else "B" if r_b > r_a else "C"
        if "@freetext" in prompt:
            return 200, _completion(f"The answer is {verdict}: it says more.", content, max_tokens, logprobs, p_a)
        return 200, _completion(f"Judged by the reward. [[ {verdict} ]]", content, max_tokens, logprobs, p_a)


def _completion(text: str, prompt: str, max_tokens: int = 256, logprobs: bool = False, p_a: float = 0.5) -> str:
    words = text.split(" ")
    finish = "length" if len(words) > max_tokens else "stop"
    words = words[:max_tokens]
    text = " ".join(words)
    usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(words)}
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
    if logprobs:
        choice["logprobs"] = {"content": [_token(w if i == 0 else " " + w, p_a) for i, w in enumerate(words)]}
    return json.dumps({"object": "chat.completion", "choices": [choice], "usage": usage})


def _token(token: str, p_a: float) -> dict:
    """One word as a token; a verdict letter's alternatives weigh A against B (and a tie, for C)."""
    if token.strip(" []:") in ("A", "B", "C"):
        p = {"A": p_a, "B": 1.0 - p_a} if token.strip(" []:") != "C" else {"C": 0.9, "A": 0.05, "B": 0.05}
        top = [{"token": f" {k}", "logprob": math.log(max(v, 1e-9))} for k, v in p.items()]
        return {"token": token, "logprob": math.log(max(p.get(token.strip(" []:"), 1e-9), 1e-9)), "top_logprobs": top}
    return {"token": token, "logprob": -0.01, "top_logprobs": [{"token": token, "logprob": -0.01}]}


def _handler(server: JudgeServer):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the name http.server calls)
            with server.lock:
                server.requests += 1
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            self.counted = True
            try:
                self._answer()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test); nothing to tell it
            finally:
                self._finished()

        def _finished(self):
            # A request stops counting before its answer goes out: the client may start its next
            # request the moment it reads this one, before a decrement after the write would run.
            if self.counted:
                self.counted = False
                with server.lock:
                    server.in_flight -= 1

        def _answer(self):
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(404, json.dumps({"error": "not found"}))
            if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                return self._send(401, json.dumps({"error": "invalid api key"}))
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            time.sleep(server.delay)
            status, text = server.answer(body["messages"][-1]["content"], body.get("max_tokens") or 256,
                                         bool(body.get("logprobs")))
            self._send(status, text)

        def _send(self, status: int, text: str):
            self._finished()
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # keep test output quiet
            pass

    return Handler


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="A deterministic OpenAI-compatible judge of the built-in task.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    port = parser.parse_args().port
    with JudgeServer(port=port) as judge:
        print(f"judge serving at {judge.url} (Ctrl-C stops it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
