"""Fuzzing (hypothesis) of the two places where the outside world's bytes come in.

- The rater web app (sealign/server/app.py, in-process through FastAPI's TestClient): whatever the
  method, path, token and body, it never answers 5xx, and a request that is not a valid answer to
  a pair assigned to its rater never changes the queue's answers. A valid one adds exactly it.
- The prompt-file loader: any bytes, any JSON rows either load as distinct, non-empty, encodable
  prompts or are refused with a UserError; never another exception.

Bounded (max_examples, no per-example deadline on a shared CPU): the file runs in well under 30 s.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealign.data.prompts import distinct, read_prompt_rows
from sealign.errors import UserError
from sealign.server.queue import FeedbackQueue

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that includes lone surrogates: JSON escapes like "\ud800" decode to them, and they break UTF-8.
TEXT = st.text(st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
               max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)  # what HTTP can carry


# ----------------------------------------------------------------------------- the rater web app
class App:
    """The app over a queue with two raters and many open pairs, plus a direct view of its answers."""

    def __init__(self, db: Path):
        from fastapi.testclient import TestClient

        from sealign.server.app import create_app

        with FeedbackQueue(db) as queue:
            self.tokens = {name: queue.add_rater(name) for name in ("alice", "bob")}
            queue.enqueue("fuzz", [f"prompt {i}" for i in range(300)], [f"a{i}" for i in range(300)],
                          [f"b{i}" for i in range(300)], raters_wanted=2)
        self.db = db
        self.client = TestClient(create_app(db)).__enter__()
        self.last_answer = {"alice": "none-yet"}  # alice's last accepted pair, to send again (409)

    def answers(self) -> set[tuple]:
        with sqlite3.connect(self.db) as db:
            return set(db.execute("SELECT a.pair_id, r.name, a.choice FROM assignments a JOIN raters r "
                                  "ON r.id = a.rater_id WHERE a.choice IS NOT NULL"))

    def on_screen(self, rater: str) -> dict | None:
        """The pair now shown to ``rater`` (assigning one if none is), as the page would get it."""
        return self.client.get("/api/next", headers={"Authorization": f"Bearer {self.tokens[rater]}"}).json()["pair"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = App(tmp_path_factory.mktemp("fuzz") / "queue.sqlite")
    yield app
    app.client.__exit__(None, None, None)


# Placeholders resolved against the live queue when the request is sent. Repeated branches weigh
# the draw toward requests that get past sign-in: random tokens alone would only ever test the 401.
PLACEHOLDER_PAIR = st.sampled_from(["<alice's pair>", "<bob's pair>", "<alice's last answer>"])
PAIR_ID = st.one_of(PLACEHOLDER_PAIR, PLACEHOLDER_PAIR, st.text(max_size=70), st.integers(), st.none())
SIDE = st.sampled_from(["left", "right", "tie"])
CHOICE = st.one_of(SIDE, SIDE, TEXT, st.integers(), st.none(), st.lists(st.text(), max_size=2))
ANSWER_BODY = st.fixed_dictionaries({"pair_id": PAIR_ID, "choice": CHOICE}, optional={"extra": JSON})
SIGNED_IN = st.sampled_from(["Bearer <alice>", "Bearer <bob>", "bearer <alice>"])
AUTH = st.one_of(SIGNED_IN, SIGNED_IN, SIGNED_IN, st.none(), HEADER_TEXT, HEADER_TEXT.map("Bearer {}".format),
                 st.sampled_from(["<alice>", "Bearer", "Bearer ", "Basic YWxpY2U6eA==", "Bearer <alice> x"]))
BODY = st.none() | ANSWER_BODY | JSON | st.binary(max_size=80)
ANSWER = st.fixed_dictionaries({"method": st.just("POST"), "path": st.just("/api/answer"), "auth": AUTH,
                                "body": st.one_of(ANSWER_BODY, ANSWER_BODY, BODY)})
NEXT = st.fixed_dictionaries({"method": st.just("GET"), "path": st.just("/api/next"), "auth": AUTH,
                              "body": st.none()})
ANY = st.fixed_dictionaries({
    "method": st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    "path": st.sampled_from(["/", "/api/next", "/api/answer", "/api/progress", "/api/nope", "/api/answer/x"]),
    "auth": AUTH,
    "body": BODY,
})
VALID_ANSWER = st.fixed_dictionaries({  # right or wrong rater, wrong or repeated pair: 200, 403 or 409
    "method": st.just("POST"), "path": st.just("/api/answer"), "auth": SIGNED_IN,
    "body": st.fixed_dictionaries({"pair_id": PLACEHOLDER_PAIR, "choice": SIDE})})
REQUEST = st.one_of(VALID_ANSWER, ANSWER, ANSWER, NEXT, ANY)


def resolve(app: App, value, rater_of_placeholder=("alice", "bob")):
    """Replace the placeholders in a generated value by the live tokens and pair ids."""
    if not isinstance(value, str):
        return value
    value = value.replace("<alice's last answer>", app.last_answer["alice"])
    for rater in rater_of_placeholder:
        value = value.replace(f"<{rater}>", app.tokens[rater])
        if f"<{rater}'s pair>" in value:
            pair = app.on_screen(rater)
            value = value.replace(f"<{rater}'s pair>", pair["pair_id"] if pair else "none-left")
    return value


def send(app: App, request: dict):
    headers = {}
    if request["auth"] is not None:
        headers["Authorization"] = resolve(app, request["auth"])
    body = request["body"]
    if isinstance(body, dict) and "pair_id" in body:
        body = {**body, "pair_id": resolve(app, body["pair_id"])}
    if isinstance(body, bytes):
        return app.client.request(request["method"], request["path"], headers=headers, content=body), body
    content = None if body is None else json.dumps(body).encode()  # ensure_ascii: surrogates travel as \ud800
    headers["Content-Type"] = "application/json"
    return app.client.request(request["method"], request["path"], headers=headers, content=content), body


def sender(request: dict, app: App) -> str | None:
    """The rater a request signs in as (the scheme is case-insensitive, as in HTTP)."""
    scheme, _, token = (resolve(app, request["auth"]) if request["auth"] else "").partition(" ")
    return next((name for name, t in app.tokens.items() if scheme.lower() == "bearer" and token.strip() == t), None)


@FUZZ
@given(requests=st.lists(REQUEST, min_size=1, max_size=5))
def test_the_rater_app_never_fails_and_never_stores_garbage(app, requests):
    for request in requests:
        before = app.answers()
        response, body = send(app, request)
        assert response.status_code < 500, (request, response.text)
        assert response.status_code in (200, 401, 403, 404, 405, 409, 422), (request, response.text)
        added = app.answers() - before
        accepted = (response.status_code == 200 and request["method"] == "POST"
                    and request["path"] == "/api/answer")
        if not accepted:
            assert not added, (request, response.status_code)  # garbage never reaches the queue
            continue
        # Exactly the answer sent, by whoever sent it, in the run's own terms (a/b/tie).
        assert len(added) == 1
        pair_id, rater, choice = added.pop()
        assert (pair_id, rater) == (body["pair_id"], sender(request, app))
        assert body["choice"] in ("left", "right", "tie") and (choice == "tie") == (body["choice"] == "tie")
        if rater == "alice":
            app.last_answer["alice"] = pair_id


def test_answers_are_accepted_once_through_the_app(app):
    """The fuzz property is not vacuous: real answers get through, and only once."""
    alice = {"Authorization": f"Bearer {app.tokens['alice']}"}
    pair = app.on_screen("alice")
    first = app.client.post("/api/answer", headers=alice, json={"pair_id": pair["pair_id"], "choice": "left"})
    again = app.client.post("/api/answer", headers=alice, json={"pair_id": pair["pair_id"], "choice": "left"})
    assert (first.status_code, again.status_code) == (200, 409)


# ----------------------------------------------------------------------------- the prompt loader
def load(data: bytes, suffix: str) -> list[str] | None:
    """The loaded prompts, or None when the file is refused with a UserError (any other exception fails)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"prompts{suffix}"
        path.write_bytes(data)
        try:
            texts = [row.text for row in distinct(str(path), read_prompt_rows(path, "prompt"))]  # as a run reads it
        except UserError as err:
            assert "\n" not in str(err)  # one line, as the CLI prints it
            return None
    assert texts and len(set(texts)) == len(texts)
    assert all(isinstance(t, str) and t.strip() for t in texts)
    for t in texts:
        t.encode("utf-8")  # what prompt_id() and the feedback log do with it
    return texts


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".jsonl", ".json"]))
def test_prompt_loader_on_random_bytes(data, suffix):
    load(data, suffix)


@FUZZ
@given(rows=st.lists(JSON, max_size=6), ascii_only=st.booleans(), suffix=st.sampled_from([".jsonl", ".json"]))
def test_prompt_loader_on_random_json_rows(rows, ascii_only, suffix):
    if suffix == ".json":
        data = json.dumps(rows, ensure_ascii=ascii_only)
    else:
        data = "\n".join(json.dumps(row, ensure_ascii=ascii_only) for row in rows)
    load(data.encode("utf-8", "surrogatepass"), suffix)


@FUZZ
@given(prompts=st.lists(st.text(min_size=1, max_size=30).filter(str.strip), min_size=1, max_size=8),
       crlf=st.booleans(), bom=st.booleans())
def test_valid_prompt_files_load_exactly_once_each(prompts, crlf, bom):
    """Well-formed files (any Unicode, U+2028 included, CRLF, a BOM) load every distinct prompt, in order."""
    lines = [json.dumps({"prompt": p, "id": k}, ensure_ascii=False) for k, p in enumerate(prompts)]
    data = ("\r\n" if crlf else "\n").join(lines).encode()
    assert load((b"\xef\xbb\xbf" if bom else b"") + data, ".jsonl") == list(dict.fromkeys(prompts))
