"""Reward servers on 127.0.0.1 for tests, built from the documented request and reply shapes of
OpenRLHF's ``serve_rm`` and vLLM's pooling and score APIs (no model: the built-in task's reward).

- ``POST /get_reward`` (OpenRLHF): ``{"query": [text], "prompts": [...]}`` -> ``{"rewards": [...],
  "scores": [...], "extra_logs": {...}}``, as ``openrlhf/cli/serve_rm.py`` answers;
- ``POST /pooling`` (vLLM): ``{"model", "input": [text]}`` -> ``{"id", "object": "list", "created",
  "model", "data": [{"index", "object": "pooling", "data": [reward]}], "usage"}``; with
  ``per_token`` each item's data is one ``[reward]`` row per token (a reward model with ALL pooling),
  the last token's being the reward;
- ``POST /score`` and ``/v1/score`` (vLLM): ``{"model", "text_1": [...], "text_2": [...]}`` ->
  ``{"data": [{"index", "object": "score", "score"}], "usage"}``.

A text is ``prompt + "\\n" + response`` (sealign's default reward template). Markers in a prompt
script faults: ``@503xK`` answers 503 the first K times a request holding it comes, ``@nan`` makes its
reward NaN, ``@slowS`` sleeps S seconds. A body without the fields of its path is answered 400, as
vLLM does. ``malformed`` replies ``{"oops": true}`` to everything; ``embedding`` makes /pooling
return three numbers per text (an embedding model served by mistake).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

from sealign.tasks.summarize import prompt_reward
from tests.local_http import LocalHTTPServer


class RewardServer(LocalHTTPServer):
    def __init__(self, reward_fn=prompt_reward, *, api_key: str | None = None, model: str = "rm",
                 per_token: bool = False, malformed: bool = False, embedding: bool = False, delay: float = 0.0):
        self.reward_fn, self.api_key, self.model = reward_fn, api_key, model
        self.per_token, self.malformed, self.embedding, self.delay = per_token, malformed, embedding, delay
        self.requests = 0
        self.texts_scored = 0
        self.batch_sizes: list[int] = []
        self.seen: Counter = Counter()
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        super().__init__(_handler(self))

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def reward(self, prompt: str, response: str) -> float:
        return float("nan") if "@nan" in prompt else self.reward_fn(prompt, response)

    def fault(self, prompts: list[str], key: str) -> int | None:
        """The HTTP status a scripted fault answers with, or None."""
        with self.lock:
            self.seen[key] += 1
            seen = self.seen[key]
        for prompt in prompts:
            if slow := re.search(r"@slow([\d.]+)", prompt):
                time.sleep(float(slow[1]))
            if (failing := re.search(r"@503x(\d+)", prompt)) and seen <= int(failing[1]):
                return 503
        return None

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        if self.malformed:
            return 200, {"oops": True}
        needs = {"/get_reward": ["query"], "/pooling": ["input"], "/score": ["text_1", "text_2"],
                 "/v1/score": ["text_1", "text_2"]}
        if missing := [f for f in needs.get(path, []) if f not in body]:
            return 400, {"object": "error", "message": f"Field required: {missing[0]}", "type": "BadRequestError",
                         "code": 400}
        if path == "/get_reward":
            pairs = [split(text) for text in body["query"]]
        elif path == "/pooling":
            if body.get("model") not in (None, self.model):
                return 404, {"object": "error", "message": f"The model `{body['model']}` does not exist."}
            pairs = [split(text) for text in body["input"]]
        elif path in ("/score", "/v1/score"):
            pairs = list(zip(body["text_1"], body["text_2"], strict=True))
        else:
            return 404, {"detail": "Not Found"}
        if status := self.fault([p for p, _ in pairs], json.dumps(body)):
            return status, {"error": "scripted 503"}
        with self.lock:
            self.texts_scored += len(pairs)
            self.batch_sizes.append(len(pairs))
        rewards = [self.reward(p, r) for p, r in pairs]
        usage = {"prompt_tokens": sum(len((p + r).split()) for p, r in pairs), "completion_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"]
        if path == "/get_reward":
            return 200, {"rewards": rewards, "scores": rewards, "extra_logs": {"dummy_scores": rewards}}
        head = {"id": "pool-1", "object": "list", "created": int(time.time()), "model": self.model}
        if path == "/pooling":
            data = [[0.1, 0.2, r] if self.embedding else [[0.0]] * 3 + [[r]] if self.per_token else [r]
                    for r in rewards]
            items = [{"index": i, "object": "pooling", "data": d} for i, d in enumerate(data)]
        else:
            items = [{"index": i, "object": "score", "score": r} for i, r in enumerate(rewards)]
        return 200, {**head, "data": items[::-1], "usage": usage}  # in any order: the index says which is which


def split(text: str) -> tuple[str, str]:
    prompt, _, response = text.partition("\n")
    return prompt, response


def _handler(server: RewardServer):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the name http.server calls)
            with server.lock:
                server.requests += 1
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    status, reply = 401, {"error": "invalid api key"}
                else:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    time.sleep(server.delay)
                    status, reply = server.answer(self.path, body)
            finally:
                with server.lock:
                    server.in_flight -= 1
            data = json.dumps(reply).encode()  # a NaN reward goes out as JSON's NaN, as Python's json writes it
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *args):  # keep test output quiet
            pass

    return Handler
