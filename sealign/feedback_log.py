"""The durable record of every oracle query and answer (SQLite in WAL mode).

An answer is committed here *before* the learner may use it, so a crash can lose no answer that
was paid for; reading the log back rebuilds the preference dataset exactly (token ids included).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sealign.errors import UserError
from sealign.types import Candidate, Comparison, Prompt

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS comparisons (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    prompt_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    prompt_ids TEXT NOT NULL,
    response_a TEXT NOT NULL,
    response_a_ids TEXT NOT NULL,
    response_b TEXT NOT NULL,
    response_b_ids TEXT NOT NULL,
    winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie')),
    prob_a REAL,
    oracle TEXT NOT NULL,
    cost REAL NOT NULL,
    cost_unit TEXT NOT NULL,
    source TEXT NOT NULL,
    timestamp REAL NOT NULL
);
"""

_COLUMNS = (
    "id, run_id, step, prompt_id, prompt, prompt_ids, response_a, response_a_ids, response_b, "
    "response_b_ids, winner, prob_a, oracle, cost, cost_unit, source, timestamp"
)


class FeedbackLog:
    """Append-only comparisons of one run. Open with the run's id; another run's log is refused."""

    def __init__(self, path: str | Path, run_id: str):
        self.path = Path(path)
        self.run_id = run_id
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # an answer is on disk when append returns
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise UserError(f"feedback log {self.path} is not a readable SQLite database ({err})") from err
        self._check_meta()

    def _check_meta(self) -> None:
        meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("schema_version", str(SCHEMA_VERSION)), ("run_id", self.run_id)],
                )
            return
        version = int(meta.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise UserError(
                f"feedback log {self.path} has schema v{version}, newer than this sealign (v{SCHEMA_VERSION}); "
                "upgrade sealign to read it"
            )
        if meta.get("run_id") != self.run_id:
            raise UserError(
                f"feedback log {self.path} belongs to run {meta.get('run_id')!r}, not {self.run_id!r}; "
                "choose a fresh --run-name or --out-dir"
            )

    def append(self, comparisons: list[Comparison]) -> None:
        """Commit ``comparisons`` in one transaction (all or none)."""
        rows = [
            (
                c.id, c.run_id, c.step, c.prompt.id, c.prompt.text, json.dumps(c.a.prompt_ids),
                c.a.text, json.dumps(c.a.token_ids), c.b.text, json.dumps(c.b.token_ids),
                c.winner, c.prob_a, c.oracle, c.cost, c.cost_unit, c.source, c.timestamp,
            )
            for c in comparisons
        ]
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                f"INSERT INTO comparisons ({_COLUMNS}) VALUES ({', '.join('?' * 17)})", rows
            )

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM comparisons WHERE source = 'oracle'").fetchone()[0]

    def total_cost(self) -> float:
        return self.db.execute("SELECT COALESCE(SUM(cost), 0) FROM comparisons WHERE source = 'oracle'").fetchone()[0]

    def read(self, source: str | None = "oracle") -> list[Comparison]:
        """All logged comparisons in the order they were written (``source=None``: every kind)."""
        where, args = ("WHERE source = ?", (source,)) if source else ("", ())
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM comparisons {where} ORDER BY seq", args)
        return [_to_comparison(row) for row in rows]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> FeedbackLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _to_comparison(row) -> Comparison:
    (cid, run_id, step, prompt_id, prompt_text, prompt_ids, a_text, a_ids, b_text, b_ids,
     winner, prob_a, oracle, cost, cost_unit, source, timestamp) = row
    prompt = Prompt(prompt_id, prompt_text)
    prompt_tokens = json.loads(prompt_ids)
    return Comparison(
        id=cid, run_id=run_id, step=step, prompt=prompt,
        a=Candidate(prompt, prompt_tokens, json.loads(a_ids), a_text),
        b=Candidate(prompt, prompt_tokens, json.loads(b_ids), b_text),
        winner=winner, prob_a=prob_a, oracle=oracle, cost=cost, cost_unit=cost_unit,
        timestamp=timestamp, source=source,
    )
