"""The human oracle's queue, the oracle itself, the rater API over real HTTP, and the rater CLI."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from sealign.cli import main
from sealign.config import RunConfig
from sealign.errors import UserError
from sealign.oracles import build_oracle
from sealign.oracles.human import HumanOracle
from sealign.server.queue import FeedbackQueue, QueueError
from tests.feedback_server import LiveFeedbackServer

torch.set_num_threads(1)


@pytest.fixture
def queue(tmp_path):
    with FeedbackQueue(tmp_path / "queue.sqlite") as q:
        yield q


def sign_in(queue, name):
    token = queue.add_rater(name)
    return token, queue.authenticate(token)


def truth(pair) -> str:
    """A rater who prefers the longer response, answering in screen terms."""
    return "left" if len(pair["left"]) > len(pair["right"]) else "right"


def test_tokens_are_random_hashed_and_revocable(queue):
    token, alice = sign_in(queue, "alice")
    assert alice.name == "alice" and len(token) >= 32
    stored = b"".join(f.read_bytes() for f in queue.path.parent.glob("queue.sqlite*"))  # with the WAL file
    assert token.encode() not in stored and queue.path.stat().st_size > 0
    assert queue.authenticate(token + "x") is None
    with pytest.raises(UserError, match="already exists"):
        queue.add_rater("alice")
    queue.deactivate_rater("alice")
    assert queue.authenticate(token) is None
    assert queue.raters() == [{"name": "alice", "active": False, "answers": 0}]


def test_a_rater_sees_only_their_pairs_and_answers_each_once(queue):
    _, alice = sign_in(queue, "alice")
    _, bob = sign_in(queue, "bob")
    ids = queue.enqueue("run", ["p1", "p2"], ["a1", "a2"], ["b1", "b2"])
    mine, his = queue.next_pair(alice), queue.next_pair(bob)
    assert (mine["pair_id"], his["pair_id"]) == tuple(ids)
    assert queue.next_pair(alice) == mine  # the same pair stays on screen until answered
    assert {mine["left"], mine["right"]} == {"a1", "b1"}
    with pytest.raises(QueueError) as refused:
        queue.submit(alice, his["pair_id"], "left")
    assert refused.value.status == 403
    queue.submit(alice, mine["pair_id"], "left")
    with pytest.raises(QueueError) as replay:
        queue.submit(alice, mine["pair_id"], "right")
    assert replay.value.status == 409
    expected = "a" if mine["left"] == "a1" else "b"  # sides are shown in random order; answers are not
    assert [a.choice for a in queue.answers(ids)[ids[0]]] == [expected]
    assert queue.next_pair(alice) is None  # p2 is bob's, and each pair wants one rater


def test_several_raters_per_pair_give_agreement(queue):
    raters = [sign_in(queue, name)[1] for name in ("alice", "bob", "carol")]
    queue.enqueue("run", ["p1", "p2"], ["long answer", "long answer"], ["short", "short"], raters_wanted=3)
    for rater in raters:
        for _ in range(2):
            pair = queue.next_pair(rater)
            side = "tie" if rater.name == "carol" and pair["prompt"] == "p2" else truth(pair)
            queue.submit(rater, pair["pair_id"], side)
    progress = queue.progress(raters[0])
    assert progress["mine"] == 2 and progress["answered"] == 6 and progress["multi_rated_pairs"] == 2
    assert progress["agreement"] == pytest.approx((3 + 1) / 6)  # p1: 3 agreeing rater pairs of 3; p2: 1 of 3


def rater_bot(queue, rater, stop, seen_open):
    """Answers whatever is on this rater's screen until told to stop; records how many pairs were open."""
    while not stop.is_set():
        seen_open.append(queue.progress()["waiting"])
        pair = queue.next_pair(rater)
        if pair is None:
            time.sleep(0.01)
            continue
        queue.submit(rater, pair["pair_id"], truth(pair))


def test_human_oracle_enqueues_waits_and_returns_the_raters_answers(queue):
    _, alice = sign_in(queue, "alice")
    stop, seen_open = threading.Event(), []
    bot = threading.Thread(target=rater_bot, args=(queue, alice, stop, seen_open))
    bot.start()
    try:
        oracle = HumanOracle(queue, "run", timeout=20, max_pending=3, poll_interval=0.01)
        prompts = [f"p{i}" for i in range(8)]
        a = ["a much longer response" if i % 2 else "short" for i in range(8)]
        b = ["short" if i % 2 else "a much longer response" for i in range(8)]
        verdicts = oracle.compare(prompts, a, b)
    finally:
        stop.set()
        bot.join()
    assert [v.winner for v in verdicts] == ["b", "a"] * 4
    assert all(v.cost_unit == "rater_seconds" and v.cost >= 0 for v in verdicts)
    assert max(seen_open) <= 3  # never more than max_pending pairs waiting at once
    assert queue.progress()["waiting"] == 0  # answered pairs leave the raters' screens


def test_unanswered_pairs_are_skipped_and_taken_off_the_screens(queue):
    _, alice = sign_in(queue, "alice")
    _, bob = sign_in(queue, "bob")
    oracle = HumanOracle(queue, "run", timeout=0.4, raters_per_pair=2, poll_interval=0.02, log=lambda _: None)
    answered = threading.Timer(0.1, lambda: queue.submit(alice, (p := queue.next_pair(alice))["pair_id"], truth(p)))
    answered.start()
    verdicts = oracle.compare(["p1", "p2"], ["a longer one", "a longer one"], ["b", "b"])
    answered.join()
    # alice answered the first pair; its second rater never came: her answer alone decides it.
    assert verdicts[0].winner == "a" and verdicts[0].answered
    assert verdicts[1].winner is None and "no rater answered" in verdicts[1].reason
    assert queue.next_pair(bob) is None  # expired pairs are no longer shown
    assert queue.progress()["waiting"] == 0


def test_a_restarted_run_withdraws_the_pairs_its_old_process_left_open(queue):
    _, alice = sign_in(queue, "alice")
    queue.enqueue("run", ["old"], ["a"], ["b"])
    queue.enqueue("other-run", ["other"], ["a"], ["b"])
    messages = []
    HumanOracle(queue, "run", log=messages.append)
    assert "1 pair(s) left open" in messages[0]
    assert queue.next_pair(alice)["prompt"] == "other"


def test_human_oracle_without_raters_is_a_one_line_error(tmp_path):
    oracle = build_oracle("human", RunConfig(out_dir=str(tmp_path), run_name="h"))
    assert oracle.queue.path == tmp_path / "h" / "human-queue.sqlite"
    with pytest.raises(UserError, match="sealign raters add NAME"):
        oracle.compare(["p"], ["a"], ["b"])


def test_rater_api_over_http_refuses_strangers_other_raters_and_replays(queue):
    alice_token, _ = sign_in(queue, "alice")
    bob_token, _ = sign_in(queue, "bob")
    queue.enqueue("run", ["p1", "p2"], ["a1", "a2"], ["b1", "b2"])
    with LiveFeedbackServer(queue.path) as server:
        assert server.call("GET", "/api/next")[0] == 401
        assert server.call("GET", "/api/next", "not-a-token")[0] == 401
        status, alice_view = server.call("GET", "/api/next", alice_token)
        assert status == 200 and alice_view["rater"] == "alice" and alice_view["pair"]["prompt"] == "p1"
        pair_id = alice_view["pair"]["pair_id"]
        assert server.call("POST", "/api/answer", None, {"pair_id": pair_id, "choice": "left"})[0] == 401
        assert server.call("POST", "/api/answer", bob_token, {"pair_id": pair_id, "choice": "left"})[0] == 403
        assert server.call("POST", "/api/answer", alice_token, {"pair_id": pair_id, "choice": "up"})[0] == 422
        status, body = server.call("POST", "/api/answer", alice_token, {"pair_id": pair_id, "choice": "right"})
        assert status == 200 and body["progress"]["mine"] == 1
        status, body = server.call("POST", "/api/answer", alice_token, {"pair_id": pair_id, "choice": "right"})
        assert status == 409 and "accepted once" in body["detail"]
        assert server.call("GET", "/api/progress", bob_token)[1]["progress"]["answered"] == 1
    assert len(queue.answers([pair_id])[pair_id]) == 1


def test_raters_cli(tmp_path, capsys):
    db = str(tmp_path / "q.sqlite")
    assert main(["raters", "add", "alice", "--db", db]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    with FeedbackQueue(db) as queue:
        assert queue.authenticate(token).name == "alice"
    assert main(["raters", "list", "--db", db]) == 0
    assert "alice\tactive\t0 answers" in capsys.readouterr().out
    assert main(["raters", "remove", "alice", "--db", db]) == 0
    assert main(["raters", "add", "--db", db]) == 2
    assert main(["raters", "remove", "nobody", "--db", db]) == 2
    assert main(["serve-feedback", "--db", str(tmp_path / "missing.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "needs a rater NAME" in err and "no rater 'nobody'" in err and "no feedback queue" in err
    assert "Traceback" not in err
