"""Load test of the rater web app: N scripted raters answer a run's queued pairs at once.

A real `sealign serve-feedback` process (uvicorn) serves a fresh queue on 127.0.0.1. The run's
side, the human oracle (enqueue, poll, close or expire), keeps the queue fed from a thread, as a
run would from its own process. N rater threads each loop "next pair -> answer it" over their own
keep-alive HTTP connection, as fast as the server lets them (think time 0 by default: a stress
test, not a model of people) for the given seconds. Afterwards the queue file is checked:

- every answer the server accepted (HTTP 200) is stored, and nothing else is;
- no rater answered a pair twice, and no pair has more answers than raters asked for;
- every stored answer reached the oracle (its answered verdicts = pairs with an answer), and
  no pair is left open.

Reports the request latency seen by raters (p50 / p95 / p99 / max) and the throughput.

    python -m bench.raters_load --raters 20 --seconds 60          # writes bench/results/raters_load.md
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sealign.oracles.human import HumanOracle
from sealign.server.queue import FeedbackQueue

RESULTS = Path(__file__).parent / "results"
RUN_ID = "load"


# ----------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FeedbackServer:
    """`sealign serve-feedback` in its own process (its own GIL, as deployed), stopped on exit."""

    def __init__(self, db: Path, log: Path):
        self.port = free_port()
        self.db, self.log = db, log

    def __enter__(self) -> FeedbackServer:
        self.log_file = open(self.log, "w")  # noqa: SIM115 (closed in __exit__)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sealign.cli", "serve-feedback", "--db", str(self.db), "--port", str(self.port)],
            stdout=self.log_file, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"the feedback server did not start; see {self.log}") from None
                time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log_file.close()


# ----------------------------------------------------------------------------- the raters
@dataclass
class RaterLog:
    name: str
    latencies: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: {"next": [], "answer": []})
    """(when sent, seconds to the whole reply) per request kind."""
    accepted: list[str] = field(default_factory=list)  # pair ids answered with HTTP 200
    refused: dict[int, int] = field(default_factory=dict)  # status -> count (409: the pair closed meanwhile)
    errors: list[str] = field(default_factory=list)  # transport failures: the outcome is unknown


class Rater(threading.Thread):
    """One scripted rater: ask for the pair on screen, answer it at random, again until the deadline."""

    def __init__(self, name: str, token: str, port: int, deadline: float, think_s: float, seed: int):
        super().__init__(name=f"rater-{name}", daemon=True)
        self.token, self.port, self.deadline, self.think_s = token, port, deadline, think_s
        self.rng = random.Random(seed)
        self.log = RaterLog(name)
        self.connection = None

    def call(self, kind: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        start = time.perf_counter()
        self.connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = self.connection.getresponse()
        data = response.read()
        self.log.latencies[kind].append((start, time.perf_counter() - start))
        return response.status, json.loads(data)

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            try:
                self.step()
            except (OSError, http.client.HTTPException, ValueError) as err:
                self.log.errors.append(f"{type(err).__name__}: {err}")
                self.connection = None  # reconnect
                time.sleep(0.05)

    def step(self) -> None:
        status, body = self.call("next", "GET", "/api/next")
        pair = body.get("pair") if status == 200 else None
        if pair is None:
            time.sleep(0.05)  # nothing waiting: poll, as the page does
            return
        if self.think_s:
            time.sleep(self.rng.uniform(0, 2 * self.think_s))
        choice = self.rng.choice(["left", "right", "tie"])
        status, _ = self.call("answer", "POST", "/api/answer", {"pair_id": pair["pair_id"], "choice": choice})
        if status == 200:
            self.log.accepted.append(pair["pair_id"])
        else:
            self.log.refused[status] = self.log.refused.get(status, 0) + 1


# ----------------------------------------------------------------------------- the run's side
class RunSide(threading.Thread):
    """The human oracle of a run: asks batches of questions until the deadline, keeps the verdicts."""

    def __init__(self, db: Path, deadline: float, raters_per_pair: int, batch: int = 256, max_pending: int = 128):
        super().__init__(name="run-side", daemon=True)
        self.oracle = HumanOracle(db, RUN_ID, timeout=3.0, max_pending=max_pending, raters_per_pair=raters_per_pair,
                                  poll_interval=0.05, log=lambda _: None)
        self.deadline, self.batch = deadline, batch
        self.verdicts = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            k = 0
            while time.monotonic() < self.deadline:
                prompts = [f"prompt {k + i}" for i in range(self.batch)]
                # The deadline bounds each batch too: after it, unanswered pairs expire (skipped).
                self.oracle.timeout = max(0.5, self.deadline - time.monotonic())
                self.verdicts += self.oracle.compare(prompts, [f"a {p}" for p in prompts], [f"b {p}" for p in prompts])
                k += self.batch
        except BaseException as err:  # reported by the checks, never lost in a thread
            self.error = err


# ----------------------------------------------------------------------------- one load run
@dataclass
class LoadResult:
    raters: int
    seconds: float
    raters_per_pair: int
    think_ms: float
    accepted: int
    refused: dict[int, int]
    transport_errors: int
    pairs_enqueued: int
    pairs_answered: int
    verdicts_answered: int
    latency_ms: dict[str, dict[str, float]]
    p95_by_third_ms: list[float]  # flat if a request's cost does not grow with the answers stored
    problems: list[str]

    @property
    def answers_per_s(self) -> float:
        return self.accepted / self.seconds

    def summary(self) -> str:
        all_ = self.latency_ms["all"]
        return (f"{self.raters} raters, {self.seconds:.0f} s: {self.accepted} answers accepted "
                f"({self.answers_per_s:.0f}/s), refused {self.refused or 'none'}, latency p50 {all_['p50']:.1f} ms "
                f"p95 {all_['p95']:.1f} ms p99 {all_['p99']:.1f} ms max {all_['max']:.1f} ms; "
                f"problems: {self.problems or 'none'}")


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles in milliseconds."""
    if not values:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]

    return {"n": len(ordered), "p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": 1000 * ordered[-1]}


def run_load(db: Path, raters: int = 20, seconds: float = 20.0, raters_per_pair: int = 2,
             think_ms: float = 0.0, seed: int = 0) -> LoadResult:
    """Serve a fresh queue at ``db``, let ``raters`` scripted raters loose on it for ``seconds``, check it."""
    with FeedbackQueue(db) as queue:
        tokens = {f"rater{k:02d}": queue.add_rater(f"rater{k:02d}") for k in range(raters)}
    with FeedbackServer(db, db.with_suffix(".server.log")) as server:
        deadline = time.monotonic() + seconds
        run_side = RunSide(db, deadline, raters_per_pair)
        threads = [Rater(name, token, server.port, deadline, think_ms / 1000, seed + k)
                   for k, (name, token) in enumerate(tokens.items())]
        run_side.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
        run_side.join(timeout=seconds + 60)
    logs = [t.log for t in threads]
    return check(db, logs, run_side, raters, seconds, raters_per_pair, think_ms)


def check(db: Path, logs: list[RaterLog], run_side: RunSide, raters: int, seconds: float,
          raters_per_pair: int, think_ms: float) -> LoadResult:
    """The queue file against what raters were told and what the oracle returned."""
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT r.name, a.pair_id FROM assignments a JOIN raters r ON r.id = a.rater_id "
                              "WHERE a.choice IS NOT NULL").fetchall()
        per_pair = conn.execute("SELECT p.id, p.raters_wanted, p.status, COUNT(a.choice) FROM pairs p LEFT JOIN "
                                "assignments a ON a.pair_id = p.id WHERE p.run_id = ? GROUP BY p.id",
                                (RUN_ID,)).fetchall()
    conn.close()
    accepted = [(log.name, pair_id) for log in logs for pair_id in log.accepted]
    problems = []
    if run_side.error is not None:
        problems.append(f"the run's side failed: {run_side.error!r}")
    if len(set(accepted)) != len(accepted):
        problems.append(f"{len(accepted) - len(set(accepted))} answers accepted twice")
    transport_errors = sum(len(log.errors) for log in logs)
    missing = set(accepted) - set(stored)
    if missing:
        problems.append(f"{len(missing)} accepted answers are not in the queue file")
    extra = set(stored) - set(accepted)
    if extra and not transport_errors:  # with a lost reply the rater cannot know it was stored
        problems.append(f"{len(extra)} stored answers were never acknowledged")
    if over := [pid for pid, wanted, _, got in per_pair if got > wanted]:
        problems.append(f"{len(over)} pairs have more answers than raters asked for")
    if still_open := [pid for pid, _, status, _ in per_pair if status == "open"]:
        problems.append(f"{len(still_open)} pairs left open")
    pairs_answered = sum(got > 0 for _, _, _, got in per_pair)
    verdicts_answered = sum(v.answered for v in run_side.verdicts)
    if verdicts_answered != pairs_answered:
        problems.append(f"the oracle returned {verdicts_answered} answers for {pairs_answered} answered pairs")
    refused: dict[int, int] = {}
    for log in logs:
        for status, count in log.refused.items():
            refused[status] = refused.get(status, 0) + count
    timed = {kind: [x for log in logs for x in log.latencies[kind]] for kind in ("next", "answer")}
    latency = {kind: percentiles([dt for _, dt in values]) for kind, values in timed.items()}
    everything = timed["next"] + timed["answer"]
    latency["all"] = percentiles([dt for _, dt in everything])
    return LoadResult(raters, seconds, raters_per_pair, think_ms, len(accepted), refused, transport_errors,
                      len(per_pair), pairs_answered, verdicts_answered, latency, p95_by_third(everything), problems)


def p95_by_third(timed: list[tuple[float, float]]) -> list[float]:
    """p95 latency (ms) of the requests sent in each third of the run."""
    if not timed:
        return []
    first, last = min(t for t, _ in timed), max(t for t, _ in timed)
    span = max(last - first, 1e-9)
    thirds = [[dt for t, dt in timed if min(2, int(3 * (t - first) / span)) == k] for k in range(3)]
    return [percentiles(third)["p95"] for third in thirds]


# ----------------------------------------------------------------------------- the report
def report(result: LoadResult) -> str:
    rows = "\n".join(f"| {kind} | {v['n']} | {v['p50']:.1f} | {v['p95']:.1f} | {v['p99']:.1f} | {v['max']:.1f} |"
                     for kind, v in result.latency_ms.items())
    return f"""# Rater web app under load

`python -m bench.raters_load --raters {result.raters} --seconds {result.seconds:g} --raters-per-pair \
{result.raters_per_pair} --think-ms {result.think_ms:g}` on {platform.machine()}, {os.cpu_count()} CPU cores \
(shared with other work), Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}.

One `sealign serve-feedback` process (uvicorn, one worker; SQLite in WAL mode, synchronous=FULL);
{result.raters} scripted raters, each a thread with its own keep-alive connection, answering as fast as
they can (think time {result.think_ms:g} ms); the human oracle of a run feeding the queue from a thread
({result.raters_per_pair} raters per pair, up to 128 pairs waiting). Latency is measured by the raters,
from sending a request to reading the whole reply.

| | |
|---|---|
| answers accepted | {result.accepted} ({result.answers_per_s:.0f} per second) |
| answers refused | {result.refused or 'none'} (409: the pair was closed or answered meanwhile) |
| transport errors | {result.transport_errors} |
| pairs enqueued / with an answer | {result.pairs_enqueued} / {result.pairs_answered} |
| oracle verdicts with an answer | {result.verdicts_answered} |
| checks (accepted = stored, none twice, none lost, none left open) | {'; '.join(result.problems) or 'all pass'} |
| p95 in the first / middle / last third of the run | {' / '.join(f'{x:.1f}' for x in result.p95_by_third_ms)} ms |

| request | n | p50 ms | p95 ms | p99 ms | max ms |
|---|---|---|---|---|---|
{rows}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raters", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--raters-per-pair", type=int, default=2)
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean rater think time (0: stress)")
    parser.add_argument("--out", type=Path, default=RESULTS / "raters_load.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        result = run_load(Path(folder) / "queue.sqlite", args.raters, args.seconds, args.raters_per_pair,
                          args.think_ms)
    print(result.summary())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(result))
    print(f"written to {args.out}")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
