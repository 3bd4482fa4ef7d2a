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
    @biasA     always reply [[A]] (a judge with pure position bias)
Run alone (``python -m tests.judge_server --port 8011``) it serves until interrupted and prints its URL.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sealign.tasks.summarize import prompt_reward

SECTIONS = re.compile(
    r"\[User Request\]\n(?P<prompt>.*?)\n\n\[The Start of Assistant A's Answer\]\n(?P<a>.*?)\n"
    r"\[The End of Assistant A's Answer\]\n\n\[The Start of Assistant B's Answer\]\n(?P<b>.*?)\n"
    r"\[The End of Assistant B's Answer\]",
    re.DOTALL,
)


class JudgeServer:
    def __init__(self, reward_fn=prompt_reward, api_key: str | None = None, delay: float = 0.0, port: int = 0):
        self.reward_fn = reward_fn
        self.api_key = api_key
        self.delay = delay  # seconds each answer takes, so concurrency can be observed
        self.seen: Counter = Counter()
        self.requests = 0
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, content: str) -> tuple[int, str]:
        """(HTTP status, body) for one judge prompt; see the module docstring."""
        match = SECTIONS.search(content)
        if match is None:
            return 200, _completion("I was not asked a question I understand.", content)
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
        if "@garbled" in prompt:
            return 200, _completion("Both answers have their merits.", content)
        if "@biasA" in prompt:
            return 200, _completion("The first one reads better. [[A]]", content)
        r_a, r_b = self.reward_fn(prompt, a), self.reward_fn(prompt, b)
        verdict = "[[A]]" if r_a > r_b else "[[B]]" if r_b > r_a else "[[C]]"
        return 200, _completion(f"Judged by the reward. {verdict}", content)


def _completion(text: str, prompt: str) -> str:
    usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
    return json.dumps({"object": "chat.completion", "choices": [{"index": 0, "message": {
        "role": "assistant", "content": text}, "finish_reason": "stop"}], "usage": usage})


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
            status, text = server.answer(body["messages"][-1]["content"])
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
