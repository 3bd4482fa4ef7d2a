"""The human-feedback queue: raters, the pairs waiting for them, and their answers, in one SQLite file.

Two processes share it: a run's ``human`` oracle enqueues pairs and collects answers, and
``sealign serve-feedback`` shows the pairs to raters and stores what they choose. SQLite in WAL
mode lets both read while one writes; every write is one short ``BEGIN IMMEDIATE`` transaction.
Standard library only, so the oracle side needs no web framework.

A pair is shown to ``raters_wanted`` distinct raters. A rater is assigned a pair when they ask
for their next one (never before: a rater who is away blocks nothing but the one pair on their
screen), sees its two responses in a random left/right order (to cancel position bias), and may
answer an assigned pair exactly once. Rater tokens are random and stored only as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sealign.errors import UserError
from sealign.records.sqlite_files import open_shared
from sealign.server.queue_schema import SCHEMA, count_existing_answers

SIDES = ("left", "right", "tie")


class QueueError(Exception):
    """A rater's request that the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Rater:
    id: int
    name: str


@dataclass(frozen=True)
class Answer:
    choice: str  # 'a', 'b' or 'tie', in the run's own order
    seconds: float  # rater time: from the pair appearing on their screen to their answer


def hash_token(token: str) -> str:
    # Tokens are 192 random bits, so a fast unsalted hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


class FeedbackQueue:
    """All reads and writes of the queue file. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = threading.Lock()
        try:
            self.db = open_shared(self.path, "pairs", "a feedback queue")
            self.db.execute("PRAGMA synchronous=FULL")  # an answer is on disk when the rater is told "saved"
            self.db.executescript(SCHEMA)
            self._write(count_existing_answers)
        except (OSError, sqlite3.DatabaseError) as err:
            raise UserError(f"feedback queue {self.path} cannot be opened as a SQLite database ({err})") from err

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def __enter__(self) -> FeedbackQueue:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self, fn):
        """Run ``fn(db)`` in one immediate transaction (other writers wait; readers do not)."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self.db)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            return result

    def _read(self, sql: str, args=()) -> list[tuple]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    # ------------------------------------------------------------------ raters
    def add_rater(self, name: str) -> str:
        """Register ``name``; returns their sign-in token, shown once and stored only hashed."""
        name = name.strip()
        if not name or len(name) > 64:
            raise UserError("a rater name must be 1-64 characters")
        token = secrets.token_urlsafe(24)

        def add(db):
            try:
                db.execute("INSERT INTO raters (name, token_hash, created) VALUES (?, ?, ?)",
                           (name, hash_token(token), time.time()))
            except sqlite3.IntegrityError as err:
                raise UserError(f"rater {name!r} already exists in {self.path}") from err

        self._write(add)
        return token

    def deactivate_rater(self, name: str) -> None:
        def deactivate(db):
            if db.execute("UPDATE raters SET active = 0 WHERE name = ?", (name,)).rowcount == 0:
                raise UserError(f"no rater {name!r} in {self.path}")
            # Their unanswered pair goes back to the pool for someone else.
            db.execute("DELETE FROM assignments WHERE choice IS NULL AND rater_id = "
                       "(SELECT id FROM raters WHERE name = ?)", (name,))

        self._write(deactivate)

    def raters(self) -> list[dict]:
        rows = self._read(
            "SELECT r.name, r.active, COUNT(a.choice) FROM raters r LEFT JOIN assignments a ON a.rater_id = r.id "
            "GROUP BY r.id ORDER BY r.id"
        )
        return [{"name": name, "active": bool(active), "answers": answers} for name, active, answers in rows]

    def active_raters(self) -> int:
        return self._read("SELECT COUNT(*) FROM raters WHERE active = 1")[0][0]

    def authenticate(self, token: str) -> Rater | None:
        rows = self._read("SELECT id, name FROM raters WHERE token_hash = ? AND active = 1", (hash_token(token),))
        return Rater(*rows[0]) if rows else None

    # ------------------------------------------------------------------ the oracle's side
    def enqueue(self, run_id: str, prompts: list[str], responses_a: list[str], responses_b: list[str],
                raters_wanted: int = 1) -> list[str]:
        ids = [uuid.uuid4().hex for _ in prompts]
        now = time.time()
        rows = [(pid, run_id, p, a, b, raters_wanted, "open", now + k * 1e-6)  # keep batch order in `created`
                for k, (pid, p, a, b) in enumerate(zip(ids, prompts, responses_a, responses_b, strict=True))]
        self._write(lambda db: db.executemany("INSERT INTO pairs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows))
        return ids

    def answers(self, pair_ids: list[str]) -> dict[str, list[Answer]]:
        """The answers given so far to each of ``pair_ids`` (pairs without any are absent)."""
        found: dict[str, list[Answer]] = {}
        for chunk in _chunks(pair_ids, 500):  # SQLite caps the number of bound parameters
            rows = self._read(
                f"SELECT pair_id, choice, answered - shown FROM assignments WHERE choice IS NOT NULL "
                f"AND pair_id IN ({', '.join('?' * len(chunk))})", chunk,
            )
            for pair_id, choice, seconds in rows:
                found.setdefault(pair_id, []).append(Answer(choice, max(0.0, seconds)))
        return found

    def close_pairs(self, pair_ids: list[str], status: str = "closed") -> None:
        """Take pairs off the raters' screens: answered enough ('closed') or waited for too long ('expired')."""

        def close(db):
            for chunk in _chunks(pair_ids, 500):
                db.execute(f"UPDATE pairs SET status = ? WHERE id IN ({', '.join('?' * len(chunk))})",
                           [status, *chunk])

        self._write(close)

    def expire_run(self, run_id: str) -> int:
        """Take a run's still-open pairs off the screens (its process is gone); returns how many."""
        return self._write(lambda db: db.execute(
            "UPDATE pairs SET status = 'expired' WHERE run_id = ? AND status = 'open'", (run_id,)).rowcount)

    # ------------------------------------------------------------------ the rater's side
    def next_pair(self, rater: Rater) -> dict | None:
        """The pair on this rater's screen: their unanswered one, else a newly assigned one, else None."""

        def claim(db):
            row = db.execute(
                "SELECT p.id, p.prompt, p.response_a, p.response_b, a.a_left FROM assignments a "
                "JOIN pairs p ON p.id = a.pair_id WHERE a.rater_id = ? AND a.choice IS NULL AND p.status = 'open' "
                "ORDER BY a.shown LIMIT 1", (rater.id,),
            ).fetchone()
            if row is None:
                row = db.execute(
                    "SELECT p.id, p.prompt, p.response_a, p.response_b FROM pairs p WHERE p.status = 'open' "
                    "AND (SELECT COUNT(*) FROM assignments a WHERE a.pair_id = p.id) < p.raters_wanted "
                    "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.pair_id = p.id AND a.rater_id = ?) "
                    "ORDER BY p.created LIMIT 1", (rater.id,),
                ).fetchone()
                if row is None:
                    return None
                a_left = secrets.randbelow(2)
                db.execute("INSERT INTO assignments (pair_id, rater_id, a_left, shown) VALUES (?, ?, ?, ?)",
                           (row[0], rater.id, a_left, time.time()))
                row = (*row, a_left)
            pair_id, prompt, a, b, a_left = row
            return {"pair_id": pair_id, "prompt": prompt, "left": a if a_left else b, "right": b if a_left else a}

        return self._write(claim)

    def submit(self, rater: Rater, pair_id: str, side: str) -> None:
        """Record this rater's choice of 'left', 'right' or 'tie' for an assigned pair, once."""
        if side not in SIDES:
            raise QueueError(422, f"choice must be one of {', '.join(SIDES)}")

        def record(db):
            row = db.execute(
                "SELECT a.a_left, a.choice, p.status FROM assignments a JOIN pairs p ON p.id = a.pair_id "
                "WHERE a.pair_id = ? AND a.rater_id = ?", (pair_id, rater.id),
            ).fetchone()
            if row is None:  # unknown pair or someone else's: the same answer, so ids cannot be probed
                raise QueueError(403, "this pair is not assigned to you")
            a_left, previous, status = row
            if previous is not None:
                raise QueueError(409, "this pair was already answered; an answer is accepted once")
            if status != "open":
                raise QueueError(409, "this pair is closed (its run stopped waiting for it)")
            choice = "tie" if side == "tie" else "a" if (side == "left") == bool(a_left) else "b"
            earlier = [c for (c,) in db.execute(
                "SELECT choice FROM assignments WHERE pair_id = ? AND choice IS NOT NULL", (pair_id,))]
            db.execute("UPDATE assignments SET choice = ?, answered = ? WHERE pair_id = ? AND rater_id = ?",
                       (choice, time.time(), pair_id, rater.id))
            db.execute("UPDATE answer_stats SET answered = answered + 1, multi_rated_pairs = multi_rated_pairs + ?, "
                       "rater_pairs = rater_pairs + ?, agreeing_pairs = agreeing_pairs + ?",
                       (len(earlier) == 1, len(earlier), earlier.count(choice)))

        self._write(record)

    def progress(self, rater: Rater | None = None) -> dict:
        """Counts for the page, and inter-rater agreement over pairs answered by several raters."""
        waiting = self._read("SELECT COUNT(*) FROM pairs WHERE status = 'open'")[0][0]
        answered, multi, total, agree = self._read(
            "SELECT answered, multi_rated_pairs, rater_pairs, agreeing_pairs FROM answer_stats")[0]
        mine = None
        if rater:
            mine = self._read("SELECT COUNT(*) FROM assignments WHERE rater_id = ? AND choice IS NOT NULL",
                              (rater.id,))[0][0]
        return {
            "waiting": waiting,
            "answered": answered,
            "mine": mine,
            "multi_rated_pairs": multi,
            "agreement": agree / total if total else None,
        }


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
