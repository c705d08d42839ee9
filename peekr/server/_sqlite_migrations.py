"""Collector-only additions to the ``traces.db`` schema, applied after the core migrations.

Append-only like ``peekr/sinks/_sqlite_schema.py`` and recorded in the same
``_peekr_migrations`` table (names start with ``server_``), so a collector database is
still a valid ``traces.db`` that ``peekr view`` can open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..sinks._sqlite_schema import apply_migrations, configure_connection
from ._sqlite_rollups import backfill, backfill_dimensions, create_tables

__all__ = ["LIST_FILTER_ATTRIBUTES", "SERVER_MIGRATIONS", "migrate"]


def server_m001_api_keys(db: sqlite3.Connection) -> None:
    """API keys: only a salted hash of the secret is stored."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS api_keys (
            key_id      TEXT PRIMARY KEY,
            tenant_id   TEXT NOT NULL,
            scope       TEXT NOT NULL,
            salt        TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            name        TEXT,
            created_at  TEXT NOT NULL,
            revoked_at  TEXT
        )
        """
    )


def server_m002_dedupe_keys(db: sqlite3.Connection) -> None:
    """Idempotent ingest: a retried batch must not store an eval result or feedback twice.

    Spans are deduplicated by their primary key; the other records get a content hash.
    """
    db.execute("ALTER TABLE eval_results ADD COLUMN record_key TEXT")
    db.execute("ALTER TABLE feedback ADD COLUMN record_key TEXT")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS uq_eval_results_record_key ON eval_results(tenant_id, record_key)")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS uq_feedback_record_key ON feedback(tenant_id, record_key)")


def server_m003_query_indexes(db: sqlite3.Connection) -> None:
    """Every query is per tenant and most are time-ranged."""
    db.execute("CREATE INDEX IF NOT EXISTS idx_spans_tenant_start ON spans(tenant_id, start_time)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_spans_tenant_trace ON spans(tenant_id, trace_id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_eval_results_tenant_span ON eval_results(tenant_id, span_id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_feedback_tenant_created ON feedback(tenant_id, created_at)")


def server_m004_spans_per_tenant(db: sqlite3.Connection) -> None:
    """Key spans by (tenant_id, span_id), as PostgreSQL does: a tenant may reuse another's span id.

    SQLite cannot change a primary key in place: the table is rebuilt (rows copied as they are)
    and every index it had is created again.
    """
    # Built from the table as it is, so a column a core migration added is kept.
    info = list(db.execute("PRAGMA table_info(spans)"))  # (cid, name, type, notnull, default, pk)
    columns = [row[1] for row in info]
    definitions = [
        f"{name} {kind}" + (" NOT NULL" if notnull else "") + (f" DEFAULT {default}" if default is not None else "")
        for _, name, kind, notnull, default, _ in info
    ]
    indexes = [
        row[0]
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spans' AND sql IS NOT NULL"
        )
    ]
    db.execute(f"CREATE TABLE spans_by_tenant ({', '.join(definitions)}, PRIMARY KEY (tenant_id, span_id))")
    names = ", ".join(columns)
    db.execute(f"INSERT INTO spans_by_tenant ({names}) SELECT {names} FROM spans")
    db.execute("DROP TABLE spans")
    db.execute("ALTER TABLE spans_by_tenant RENAME TO spans")
    for sql in indexes:
        db.execute(sql)


def server_m005_pad_years(db: sqlite3.Connection) -> None:
    """Timestamps before year 1000 were stored with a short year (``999-06-01T…``): pad them to four digits.

    Such rows broke the trace list and escaped the retention purge, which compares text.
    """
    for table, column in (("spans", "start_time"), ("spans", "end_time"), ("eval_results", "created_at"),
                          ("feedback", "created_at")):  # fmt: skip
        rows = db.execute(f"SELECT rowid, {column} FROM {table} WHERE instr({column}, '-') BETWEEN 2 AND 4").fetchall()
        for rowid, value in rows:
            year, rest = value.split("-", 1)
            db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (f"{year.zfill(4)}-{rest}", rowid))


def server_m006_rollups(db: sqlite3.Connection) -> None:
    """Rollups maintained at ingest (``_sqlite_rollups``), built here from the data already stored."""
    create_tables(db)
    # The dimensions of that time; later ones are added by their own migration (m008: user_id).
    backfill(db, dims=("", "model", "name", "feature", "endpoint", "provider"))


def server_m007_list_indexes(db: sqlite3.Connection) -> None:
    """Per-filter indexes for the trace list (equality on the filter, then newest first), and the
    waterfall's spans, eval results and feedback by trace, in the order it reads them (without
    stored statistics SQLite preferred the time index for the waterfall's ORDER BY, reading all
    of the tenant's spans)."""
    db.execute("CREATE INDEX IF NOT EXISTS idx_spans_tenant_trace_start ON spans(tenant_id, trace_id, start_time)")
    db.execute("DROP INDEX IF EXISTS idx_spans_tenant_trace")  # a prefix of the one above
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_eval_results_tenant_trace ON eval_results(tenant_id, trace_id, created_at)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_feedback_tenant_trace ON feedback(tenant_id, trace_id, created_at)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_spans_tenant_status ON spans(tenant_id, status, start_time)")
    for attr in LIST_FILTER_ATTRIBUTES:
        db.execute(
            f"CREATE INDEX IF NOT EXISTS idx_spans_tenant_{attr} "
            f"ON spans(tenant_id, json_extract(attributes, '$.{attr}'), start_time)"
        )


def server_m009_user_rollups(db: sqlite3.Connection) -> None:
    """Trends by user: the ``user_id`` rollup dimension, built from the spans already stored."""
    backfill_dimensions(db, ("user_id",))


#: Span attributes the trace list filters on by equality, each with its own index.
LIST_FILTER_ATTRIBUTES: tuple[str, ...] = (
    "model", "feature", "endpoint", "user_id", "session_id", "experiment_variant",
)  # fmt: skip


def server_m008_rate_buckets(db: sqlite3.Connection) -> None:
    """Per-key token buckets shared by every collector process on this file (``take_token``)."""
    db.execute("CREATE TABLE IF NOT EXISTS rate_buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, at REAL NOT NULL)")


SERVER_MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("server_m001_api_keys", server_m001_api_keys),
    ("server_m002_dedupe_keys", server_m002_dedupe_keys),
    ("server_m003_query_indexes", server_m003_query_indexes),
    ("server_m004_spans_per_tenant", server_m004_spans_per_tenant),
    ("server_m005_pad_years", server_m005_pad_years),
    ("server_m006_rollups", server_m006_rollups),
    ("server_m007_list_indexes", server_m007_list_indexes),
    ("server_m008_rate_buckets", server_m008_rate_buckets),
    ("server_m009_user_rollups", server_m009_user_rollups),
]


def migrate(db: sqlite3.Connection) -> None:
    """Configure the connection, apply the core migrations, then the collector's."""
    configure_connection(db)
    apply_migrations(db)
    db.execute("BEGIN IMMEDIATE")
    try:
        done = {row[0] for row in db.execute("SELECT name FROM _peekr_migrations")}
        for name, fn in SERVER_MIGRATIONS:
            if name not in done:
                fn(db)
                db.execute(
                    "INSERT INTO _peekr_migrations (name, applied_at) VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                    (name,),
                )
        db.execute("COMMIT")
    except Exception:
        db.execute("ROLLBACK")
        raise
