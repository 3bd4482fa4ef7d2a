"""The durable record of every oracle query and answer (SQLite in WAL mode).

An answer is committed here *before* the learner may use it, so a crash can lose no answer that
was paid for; reading the log back rebuilds the preference dataset exactly (token ids included).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sealign.errors import UserError
from sealign.records.types import Candidate, Comparison, Prompt

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (step INTEGER PRIMARY KEY, skipped INTEGER NOT NULL);
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
        except sqlite3.Error as err:
            raise UserError(f"feedback log {self.path} cannot be opened ({err})") from err
        try:
            self._open()
        except BaseException:
            self.db.close()  # a refused log is not held open
            raise

    def _open(self) -> None:
        try:
            meta = self._read_meta()
        except sqlite3.DatabaseError as err:
            raise UserError(f"feedback log {self.path} is not a readable SQLite database ({err})") from err
        # Checked before anything is written: a refused log (another run's, a newer schema, some other
        # database) is left byte-identical; no table, pragma or row is added to it.
        self._check_meta(meta)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # an answer is on disk when append returns
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise UserError(f"feedback log {self.path} is not a writable SQLite database ({err})") from err
        if not meta:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("schema_version", str(SCHEMA_VERSION)), ("run_id", self.run_id)],
                )

    def _read_meta(self) -> dict[str, str]:
        """The log's meta table ({} for a new, empty file); refuses a database that is not a feedback log."""
        tables = {name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            if tables:
                raise UserError(f"{self.path} is a SQLite database but not a feedback log (tables: "
                                f"{', '.join(sorted(tables))[:80]}); point to the run's feedback.sqlite")
            return {}
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def _check_meta(self, meta: dict[str, str]) -> None:
        if not meta:
            return
        version = meta.get("schema_version", "0")
        if not version.isdigit():
            raise UserError(f"feedback log {self.path} has an unreadable schema version {version!r}")
        if int(version) > SCHEMA_VERSION:
            raise UserError(
                f"feedback log {self.path} has schema v{version}, newer than this sealign (v{SCHEMA_VERSION}); "
                "upgrade sealign to read it"
            )
        if meta.get("run_id") != self.run_id:
            raise UserError(
                f"feedback log {self.path} belongs to run {meta.get('run_id')!r}, not {self.run_id!r}; "
                "choose a fresh --run-name or --out-dir"
            )

    def append(self, comparisons: list[Comparison], step: int | None = None, skipped: int = 0) -> None:
        """Commit ``comparisons`` in one transaction (all or none).

        With ``step``, the step is also recorded as asked, with how many of its queries went
        unanswered: a resumed run then neither asks that step again nor forgets what it spent.
        """
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
            if step is not None:
                self.db.execute("INSERT INTO steps VALUES (?, ?)", (step, skipped))

    def asked_steps(self) -> dict[int, int]:
        """Steps whose queries were asked (and logged), with their unanswered counts."""
        return dict(self.db.execute("SELECT step, skipped FROM steps").fetchall())

    def __len__(self) -> int:
        """The oracle's answers (model labels and derived pairs are no queries)."""
        return self.db.execute("SELECT COUNT(*) FROM comparisons WHERE source = 'oracle'").fetchone()[0]

    def unanswered(self) -> int:
        """Queries asked that got no answer (an abstention, a failed call): spent, but no row of their own."""
        return self.db.execute("SELECT COALESCE(SUM(skipped), 0) FROM steps").fetchone()[0]

    def queries_spent(self) -> int:
        """Every query asked, answered or not: what the budget and the curves count."""
        return len(self) + self.unanswered()

    def total_cost(self) -> float:
        return self.db.execute("SELECT COALESCE(SUM(cost), 0) FROM comparisons WHERE source = 'oracle'").fetchone()[0]

    def cost_units(self) -> list[str]:
        """The units the oracle's costs are in (usd, tokens, rater seconds, ...)."""
        rows = self.db.execute("SELECT DISTINCT cost_unit FROM comparisons WHERE source = 'oracle' ORDER BY 1")
        return [unit for (unit,) in rows]

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


def open_run_log(run_dir: Path) -> FeedbackLog:
    """The feedback log of an existing run directory, whatever its run id (export, report)."""
    path = Path(run_dir) / "feedback.sqlite"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no feedback.sqlite)")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'run_id'").fetchone()
    except sqlite3.Error as err:
        raise UserError(f"feedback log {path} is not readable ({err})") from err
    if row is None:
        raise UserError(f"feedback log {path} has no run id; it is not a sealign feedback log")
    return FeedbackLog(path, run_id=row[0])


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
