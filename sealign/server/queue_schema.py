"""The feedback queue file's tables (``SCHEMA``) and the one-time fill of the progress counters for a
queue file made before they existed; ``queue.py`` reads and writes them."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS raters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    active INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pairs (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    response_a TEXT NOT NULL,
    response_b TEXT NOT NULL,
    raters_wanted INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'expired')),
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pairs_open ON pairs (status, created);
CREATE TABLE IF NOT EXISTS assignments (
    pair_id TEXT NOT NULL REFERENCES pairs (id),
    rater_id INTEGER NOT NULL REFERENCES raters (id),
    a_left INTEGER NOT NULL,
    shown REAL NOT NULL,
    choice TEXT CHECK (choice IN ('a', 'b', 'tie')),
    answered REAL,
    PRIMARY KEY (pair_id, rater_id)
);
CREATE INDEX IF NOT EXISTS assignments_rater ON assignments (rater_id, choice);
-- Counters for the progress shown on every page request, kept by each answer's own transaction:
-- counting all answers per request made each request cost time linear in the answers ever given.
CREATE TABLE IF NOT EXISTS answer_stats (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    answered INTEGER NOT NULL,
    multi_rated_pairs INTEGER NOT NULL,
    rater_pairs INTEGER NOT NULL,  -- pairs of raters who answered the same pair
    agreeing_pairs INTEGER NOT NULL  -- ... and gave the same answer
);
"""


def count_existing_answers(db: sqlite3.Connection) -> None:
    """Fill the progress counters once, from the answers, for a queue file made before they existed."""
    if db.execute("SELECT 1 FROM answer_stats").fetchone() is None:
        # A pair answered n times, n_a of them 'a' (and so on), has n(n-1)/2 pairs of raters, of
        # which n_a(n_a-1)/2 + n_b(n_b-1)/2 + n_tie(n_tie-1)/2 agree.
        db.execute(
            "INSERT INTO answer_stats SELECT 0, COALESCE(SUM(n), 0), COALESCE(SUM(n > 1), 0), "
            "COALESCE(SUM(n * (n - 1) / 2), 0), "
            "COALESCE(SUM(na * (na - 1) / 2 + nb * (nb - 1) / 2 + nt * (nt - 1) / 2), 0) FROM ("
            "SELECT COUNT(*) AS n, SUM(choice = 'a') AS na, SUM(choice = 'b') AS nb, SUM(choice = 'tie') AS nt "
            "FROM assignments WHERE choice IS NOT NULL GROUP BY pair_id)"
        )
