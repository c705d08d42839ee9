"""The text search's trigram index as the operator's choice: ``peekr server --text-search trigram|scan``.

``trigram`` keeps a GIN trigram index (``pg_trgm``) on every partition, so ``q`` is exact and fast
over any window; it is about half of PostgreSQL's CPU per span at ingest. ``scan`` keeps no index:
the trace list's page walk evaluates ``q`` on the spans it walks and reads at most
``TEXT_SCAN_LIMIT`` per request, as the SQLite store does.

The setting belongs to the database, not to one process: every collector start applies it (under
the migration lock) and records it in ``_peekr_settings``, and each running collector holds a
shared advisory lock for its value (session level, on a connection kept for the process's life).
A collector started with the other value while one of those locks is held refuses to start, so
two collectors never build and drop the index in turn; with none held it switches (drops the
index, or builds it over every stored span) and records the new value.
"""

from __future__ import annotations

import logging

import asyncpg

from ._config import TEXT_SEARCH_MODES
from ._pg_schema import TEXT_SEARCH_EXPR

__all__ = [
    "TEXT_SEARCH_MODES",
    "TextSearchConflict",
    "apply_setting",
    "check_before_start",
    "conflict_message",
    "running_with",
    "trigram_index_exists",
]

_GUARD = 7_253_010  # two-key advisory locks (_GUARD, index in TEXT_SEARCH_MODES), held shared while running
_INDEX = "spans_text_trgm"
_log = logging.getLogger("peekr.server")


class TextSearchConflict(RuntimeError):
    """Collectors with the other ``--text-search`` value are running on this database."""


async def trigram_index_exists(conn: asyncpg.Connection) -> bool:
    """True when ``spans`` has the text search's trigram index (then on every partition)."""
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", _INDEX))


async def running_with(conn: asyncpg.Connection, mode: str) -> int:
    """How many collector processes on this database are running with ``--text-search mode``."""
    count = await conn.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND classid = $1::int8::oid AND objid = $2::int8::oid",
        _GUARD,
        TEXT_SEARCH_MODES.index(mode),
    )
    return int(count or 0)


def conflict_message(mode: str, other: str, running: int) -> str:
    """Why a collector started with ``--text-search mode`` refuses, and how to switch."""
    change = "drops the trigram index" if mode == "scan" else "builds the trigram index over every stored span"
    return (
        f"{running} collector process(es) on this database run with --text-search {other}; every collector "
        f"of one database must use the same value. To switch to --text-search {mode}, stop them all, "
        f"then start one with --text-search {mode} (it {change}), then the others."
    )


async def apply_setting(conn: asyncpg.Connection, mode: str) -> None:
    """Make the database follow ``mode`` and hold this process's guard for it.

    Run on the connection the process keeps open, inside the transaction that holds the
    migration lock (so no other collector starts or switches meanwhile); the guard is a
    session-level lock, so it outlives the transaction and goes with the connection.

    Raises:
        ValueError: ``mode`` is not one of ``TEXT_SEARCH_MODES``.
        TextSearchConflict: collectors with the other value are running.
    """
    if mode not in TEXT_SEARCH_MODES:
        raise ValueError(f"text_search={mode!r} must be one of {', '.join(TEXT_SEARCH_MODES)}")
    for other in TEXT_SEARCH_MODES:
        if other != mode and (running := await running_with(conn, other)):
            raise TextSearchConflict(conflict_message(mode, other, running))
    has_index = await trigram_index_exists(conn)
    if mode == "trigram" and not has_index:
        stored = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM spans)")
        if stored:  # a new database gets its (empty) index silently
            _log.warning(
                "--text-search trigram: building the text search's trigram index over every stored span "
                "(every partition); this can take a while (minutes per few million spans), and ingest "
                "waits until it is done"
            )
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        await conn.execute(f"CREATE INDEX IF NOT EXISTS {_INDEX} ON spans USING gin ({TEXT_SEARCH_EXPR} gin_trgm_ops)")
        if stored:
            _log.warning("--text-search trigram: the trigram index is built")
    elif mode == "scan" and has_index:
        _log.warning(
            "--text-search scan: dropping the text search's trigram index (every partition); "
            "q now reads a bounded number of spans per request"
        )
        await conn.execute(f"DROP INDEX IF EXISTS {_INDEX}")
    await conn.execute(
        "INSERT INTO _peekr_settings (name, value, set_at) VALUES ('text_search', $1, now()) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value, set_at = excluded.set_at "
        "WHERE _peekr_settings.value IS DISTINCT FROM excluded.value",
        mode,
    )
    await conn.execute("SELECT pg_advisory_lock_shared($1, $2)", _GUARD, TEXT_SEARCH_MODES.index(mode))


async def check_before_start(dsn: str, mode: str) -> str | None:
    """The refusal a collector started with ``mode`` would meet, or None; for ``peekr server`` to
    print before its workers start (``apply_setting`` decides, under the migration lock)."""
    conn = await asyncpg.connect(dsn)
    try:
        for other in TEXT_SEARCH_MODES:
            if other != mode and (running := await running_with(conn, other)):
                return conflict_message(mode, other, running)
        return None
    finally:
        await conn.close()
