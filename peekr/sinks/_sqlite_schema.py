"""SQLite schema for ``traces.db``: an ordered, append-only list of migrations.

Never edit a migration after release; add a new one. Applied migrations are recorded by name
in ``_peekr_migrations``; ``PRAGMA user_version`` mirrors the count so other tools can check
the schema version cheaply. Used by the SQLiteSink, the CLI readers and the collector server.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "WRITER_PRAGMAS", "apply_migrations", "configure_connection"]


def m001_spans(db: sqlite3.Connection) -> None:
    """The spans table of DESIGN.md: top-level fields as columns, attributes as JSON text."""
    _run(
        db,
        """
        CREATE TABLE IF NOT EXISTS spans (
            span_id         TEXT PRIMARY KEY,
            trace_id        TEXT NOT NULL,
            parent_id       TEXT,
            name            TEXT NOT NULL,
            start_time      TEXT NOT NULL,
            end_time        TEXT NOT NULL,
            duration_ms     REAL NOT NULL,
            status          TEXT NOT NULL,
            tenant_id       TEXT,
            retention_class TEXT NOT NULL DEFAULT 'default',
            attributes      TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX IF NOT EXISTS idx_spans_trace_id ON spans(trace_id);
        CREATE INDEX IF NOT EXISTS idx_spans_start_time ON spans(start_time);
        CREATE INDEX IF NOT EXISTS idx_spans_name ON spans(name);
        CREATE INDEX IF NOT EXISTS idx_spans_tenant_id ON spans(tenant_id);
        """,
    )


def m002_eval_results(db: sqlite3.Connection) -> None:
    """Evaluation results as records of their own, merged into span attributes.

    Results can be written before their span (sinks and processes are independent), so the
    sink merges stored results into a span when the span is inserted, and updates an existing
    span when a result arrives later. Either order ends with the same attributes.
    """
    _run(
        db,
        """
        CREATE TABLE IF NOT EXISTS eval_results (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            span_id     TEXT NOT NULL,
            trace_id    TEXT NOT NULL,
            evaluator   TEXT NOT NULL,
            status      TEXT NOT NULL,
            scores      TEXT NOT NULL DEFAULT '{}',
            attributes  TEXT NOT NULL DEFAULT '{}',
            error       TEXT,
            created_at  TEXT NOT NULL,
            tenant_id   TEXT
        );
        CREATE INDEX IF NOT EXISTS idx_eval_results_span_id ON eval_results(span_id);
        """,
    )


def m003_feedback(db: sqlite3.Connection) -> None:
    """Human feedback, keyed by trace; several rows per trace, the latest counts."""
    _run(
        db,
        """
        CREATE TABLE IF NOT EXISTS feedback (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            trace_id    TEXT NOT NULL,
            span_id     TEXT,
            rating      TEXT,
            score       REAL,
            note        TEXT,
            created_at  TEXT NOT NULL,
            tenant_id   TEXT
        );
        CREATE INDEX IF NOT EXISTS idx_feedback_trace_id ON feedback(trace_id);
        """,
    )


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("m001_spans", m001_spans),
    ("m002_eval_results", m002_eval_results),
    ("m003_feedback", m003_feedback),
]
SCHEMA_VERSION = len(MIGRATIONS)


#: Per-connection settings for writers: a 32 MiB page cache and a 64 MiB WAL between checkpoints
#: (measured: random-key inserts into five B-trees cost about half as much CPU as with the defaults).
WRITER_PRAGMAS = ("PRAGMA synchronous = NORMAL", "PRAGMA cache_size = -32768", "PRAGMA wal_autocheckpoint = 4000")


def configure_connection(db: sqlite3.Connection, busy_timeout_ms: int = 10_000) -> None:
    """WAL and a busy timeout, so several processes can write the same file.

    A new file gets 16 KiB pages (fewer, shallower B-tree pages for the span rows and indexes);
    ``page_size`` is a no-op on an existing database.
    """
    db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    db.execute("PRAGMA page_size = 16384")
    db.execute("PRAGMA journal_mode = WAL")
    for pragma in WRITER_PRAGMAS:
        db.execute(pragma)


def apply_migrations(db: sqlite3.Connection) -> int:
    """Apply the migrations this file does not have yet; return the schema version.

    Safe to run from several processes at once: the work happens in one IMMEDIATE
    transaction, so the second process waits and then finds nothing to do.
    """
    if db.in_transaction:
        db.commit()
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE IF NOT EXISTS _peekr_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = {row[0] for row in db.execute("SELECT name FROM _peekr_migrations")}
        for name, fn in MIGRATIONS:
            if name in done:
                continue
            fn(db)
            db.execute(
                "INSERT INTO _peekr_migrations (name, applied_at) VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                (name,),
            )
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


def _run(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it COMMITs first, which would break the migration transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)
