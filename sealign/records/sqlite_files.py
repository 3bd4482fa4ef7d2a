"""Opening the small SQLite files several threads or processes share (judge cache, rater queue)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sealign.errors import UserError


def refuse_foreign_database(db: sqlite3.Connection, path: Path, table: str, what: str) -> None:
    """Refuse a SQLite file that holds tables but not ``table``: another kind of database (a run's
    feedback log, a judge cache) given by mistake, which opening would change by adding tables."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and table not in tables:
        db.close()
        raise UserError(f"{path} is a SQLite database but not {what} (it holds {', '.join(sorted(tables))[:80]}); "
                        "check the path")


def open_shared(path: Path, table: str, what: str) -> sqlite3.Connection:
    """A WAL-mode connection to ``path`` (created with its folder), usable from several threads behind
    the caller's lock; refuses a database of another kind. Raises OSError / sqlite3.DatabaseError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    refuse_foreign_database(db, path, table, what)
    db.execute("PRAGMA journal_mode=WAL")
    return db
