"""Daily partitions of the PostgreSQL ``spans`` table, one leaf per day x retention class.

``spans`` is range-partitioned on ``start_time`` by UTC day (``spans_d20261127``), and each day
is list-partitioned on ``retention_class`` (``spans_d20261127_pii``, ``..._short``,
``..._default``, ``..._long``). The retention classes are a fixed set with different lifetimes,
so a class's whole day expires at once and the purge drops that one leaf instead of deleting
rows; the day table goes when its last leaf does. Partitions are created on demand (ingest,
startup) under an advisory lock, so collector processes never race on the DDL.

The migration (``convert``) turns an unpartitioned ``spans`` table into this layout in the
migration's transaction: it renames the old table, creates the partitioned one with the same
columns and the same secondary indexes, creates the days the data needs, copies the rows and
drops the old table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta

import asyncpg

from .._span import RETENTION_CLASSES

__all__ = ["convert", "day_of", "day_table", "ensure_days", "existing_days", "leaf_table", "leaves_of"]

_PARTITION_LOCK = 7_253_004  # pg_advisory_xact_lock key: one partition creator at a time
_DAY = re.compile(r"^spans_d(\d{4})(\d{2})(\d{2})$")
_OLD = "spans_unpartitioned"


def day_of(ts: str) -> date:
    """The UTC day of a canonical timestamp (``format_time``)."""
    return date(int(ts[0:4]), int(ts[5:7]), int(ts[8:10]))


def day_table(day: date) -> str:
    """The partition holding ``day``."""
    return f"spans_d{day.year:04d}{day.month:02d}{day.day:02d}"


def leaf_table(day: date, retention_class: str) -> str:
    """The leaf holding ``day``'s spans of one retention class."""
    return f"{day_table(day)}_{retention_class}"


def _bound(day: date) -> str:
    return f"'{day.year:04d}-{day.month:02d}-{day.day:02d} 00:00:00+00'"


async def existing_days(conn: asyncpg.Connection) -> set[date]:
    """The days that have a partition."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'spans'::regclass"
    )
    out = set()
    for r in rows:
        m = _DAY.match(r["relname"])
        if m:
            out.add(date(int(m[1]), int(m[2]), int(m[3])))
    return out


async def leaves_of(conn: asyncpg.Connection, day: date) -> list[str]:
    """The leaf tables of one day (its retention classes still stored)."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass",
        day_table(day),
    )
    return sorted(r["relname"] for r in rows)


async def _create_day(conn: asyncpg.Connection, day: date) -> None:
    try:
        upper = _bound(day + timedelta(days=1))
    except OverflowError:  # 9999-12-31
        upper = "MAXVALUE"
    table = day_table(day)
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {table} PARTITION OF spans FOR VALUES FROM ({_bound(day)}) TO ({upper}) "
        "PARTITION BY LIST (retention_class)"
    )
    for cls in RETENTION_CLASSES:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {leaf_table(day, cls)} PARTITION OF {table} FOR VALUES IN ('{cls}')"
        )


async def ensure_days(conn: asyncpg.Connection, days: Iterable[date], *, leaves: bool = False) -> set[date]:
    """Create the partitions of ``days`` that are missing; return every day that now has one.

    ``leaves``: also recreate the retention-class leaves a purge dropped from days that still exist
    (for a late span of an expired class). Runs in its own transaction (or a savepoint of the
    caller's) under an advisory lock.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _PARTITION_LOCK)
        have = await existing_days(conn)
        for day in sorted(set(days) if leaves else set(days) - have):
            await _create_day(conn, day)
            have.add(day)
    return have


async def convert(conn: asyncpg.Connection) -> None:
    """Migration: make ``spans`` partitioned (a no-op when it already is).

    Secondary indexes are recreated from their definitions on the partitioned table, so indexes
    added by earlier migrations (whatever they are) carry over; the primary key gains the
    partition keys: (tenant_id, span_id, start_time, retention_class).
    """
    kind = await conn.fetchval("SELECT relkind FROM pg_class WHERE oid = 'spans'::regclass")
    if kind == b"p" or kind == "p":
        return
    await conn.execute(f"ALTER TABLE spans RENAME TO {_OLD}")
    indexes = await conn.fetch(
        "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisprimary "
        "FROM pg_index i WHERE i.indrelid = $1::regclass",
        _OLD,
    )
    await conn.execute(f"ALTER TABLE {_OLD} DROP CONSTRAINT IF EXISTS spans_pkey")
    for idx in indexes:
        if not idx["indisprimary"]:
            await conn.execute(f"DROP INDEX {idx['name']}")
    await conn.execute(
        f"CREATE TABLE spans (LIKE {_OLD} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING STORAGE, "
        "PRIMARY KEY (tenant_id, span_id, start_time, retention_class)) PARTITION BY RANGE (start_time)"
    )
    for idx in indexes:
        # spans_retention (retention_class, start_time) served the row-by-row purge; partitions replace it.
        if idx["indisprimary"] or idx["name"] == "spans_retention":
            continue
        await conn.execute(re.sub(rf" ON (\S+\.)?{_OLD} ", " ON spans ", idx["def"], count=1))
    days = [r[0] for r in await conn.fetch(f"SELECT DISTINCT (start_time AT TIME ZONE 'UTC')::date FROM {_OLD}")]
    await ensure_days(conn, days)
    columns = ", ".join(
        r["attname"]
        for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped "
            "AND attgenerated = '' ORDER BY attnum",
            _OLD,
        )
    )
    await conn.execute(f"INSERT INTO spans ({columns}) SELECT {columns} FROM {_OLD}")
    await conn.execute(f"DROP TABLE {_OLD}")
