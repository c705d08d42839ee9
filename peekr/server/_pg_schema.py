"""PostgreSQL schema for the collector: append-only migrations, like the SQLite ones.

Spans are keyed by (tenant_id, span_id), so tenants can never collide. Timestamps are
``timestamptz`` and attributes ``jsonb``; indexes serve the query API (per tenant, by time).
Migrations run under an advisory lock, so collector processes starting together are safe.
From ``pg_m007`` on, ``spans`` is partitioned by day and retention class (``_pg_partitions``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from ._pg_partitions import convert as _partition_spans
from ._pg_rollups import SCHEMA as _ROLLUP_SCHEMA
from ._pg_rollups import backfill as _backfill_rollups
from ._pg_rollups import backfill_dimensions as _backfill_dimensions

__all__ = ["LIST_FILTER_ATTRIBUTES", "PG_MIGRATIONS", "TEXT_SEARCH_EXPR"]

#: Span attributes the trace list filters on by equality, each with its own index.
LIST_FILTER_ATTRIBUTES: tuple[str, ...] = (
    "model", "feature", "endpoint", "user_id", "session_id", "experiment_variant",
)  # fmt: skip


async def _pg_m005_rollups(conn: asyncpg.Connection) -> None:
    """Rollups maintained at ingest (``_pg_rollups``), built here from the data already stored."""
    await conn.execute(_ROLLUP_SCHEMA)
    # The dimensions of that time; later ones are added by their own migration (m008: user_id).
    await _backfill_rollups(conn, dims=("", "model", "name", "feature", "endpoint", "provider"))


async def _pg_m010_user_rollups(conn: asyncpg.Connection) -> None:
    """Trends by user: the ``user_id`` rollup dimension, built from the spans already stored."""
    await _backfill_dimensions(conn, ("user_id",))


#: What the trace list's text search matches: the span's input and output, as text.
TEXT_SEARCH_EXPR = "(coalesce(attributes->>'input', '') || ' ' || coalesce(attributes->>'output', ''))"


async def _pg_m009_text_search(conn: asyncpg.Connection) -> None:
    """Nothing any more: the trigram index follows ``--text-search`` (``_pg_text_search``).

    Databases migrated before that got the index (and the ``pg_trgm`` extension) here; a new
    database gets them at the first start with ``--text-search trigram`` (the default), and never
    with ``scan``, which needs no extension.
    """


_LIST_INDEXES = "\n".join(
    [
        # The list's full order (start_time, then trace_id in byte order), so a page needs no sort.
        'CREATE INDEX IF NOT EXISTS spans_tenant_start_trace ON spans (tenant_id, start_time DESC, trace_id COLLATE "C" DESC);',
        "DROP INDEX IF EXISTS spans_tenant_start;",  # a prefix of the one above
        'CREATE INDEX IF NOT EXISTS spans_tenant_status ON spans (tenant_id, status, start_time DESC, trace_id COLLATE "C" DESC);',
        *(
            f"CREATE INDEX IF NOT EXISTS spans_tenant_{a} ON spans "
            f"(tenant_id, (attributes->>'{a}'), start_time DESC, trace_id COLLATE \"C\" DESC);"
            for a in LIST_FILTER_ATTRIBUTES
        ),
    ]
)

# The attribute filters' indexes hold only the spans that carry the attribute (``WHERE ... IS NOT
# NULL``): a span without a session, user, endpoint or experiment (most of them; every non-LLM span
# has no model either) costs those indexes nothing at ingest. ``attributes->>'a' = $n`` implies the
# predicate (``=`` is strict), so the generic plans the collector uses still read them. Built again
# once, on every partition, when a database migrates.
_PARTIAL_LIST_INDEXES = "\n".join(
    f"DROP INDEX IF EXISTS spans_tenant_{a}; CREATE INDEX spans_tenant_{a} ON spans "
    f"(tenant_id, (attributes->>'{a}'), start_time DESC, trace_id COLLATE \"C\" DESC) "
    f"WHERE (attributes->>'{a}') IS NOT NULL;"
    for a in LIST_FILTER_ATTRIBUTES
)

#: (name, SQL or a coroutine function run on the migrating connection), append-only.
PG_MIGRATIONS: list[tuple[str, str | Callable[[asyncpg.Connection], Awaitable[None]]]] = [
    (
        "pg_m001_spans",
        """
        CREATE TABLE IF NOT EXISTS spans (
            tenant_id       text NOT NULL,
            span_id         text NOT NULL,
            trace_id        text NOT NULL,
            parent_id       text,
            name            text NOT NULL,
            start_time      timestamptz NOT NULL,
            end_time        timestamptz NOT NULL,
            duration_ms     double precision NOT NULL,
            status          text NOT NULL,
            retention_class text NOT NULL DEFAULT 'default',
            attributes      jsonb NOT NULL DEFAULT '{}',
            received_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, span_id)
        );
        CREATE INDEX IF NOT EXISTS spans_tenant_start ON spans (tenant_id, start_time DESC);
        CREATE INDEX IF NOT EXISTS spans_tenant_trace ON spans (tenant_id, trace_id);
        CREATE INDEX IF NOT EXISTS spans_retention ON spans (retention_class, start_time);
        """,
    ),
    (
        "pg_m002_eval_results",
        """
        CREATE TABLE IF NOT EXISTS eval_results (
            id          bigserial PRIMARY KEY,
            tenant_id   text NOT NULL,
            record_key  text NOT NULL,
            span_id     text NOT NULL,
            trace_id    text NOT NULL,
            evaluator   text NOT NULL,
            status      text NOT NULL,
            scores      jsonb NOT NULL DEFAULT '{}',
            attributes  jsonb NOT NULL DEFAULT '{}',
            error       text,
            created_at  timestamptz NOT NULL,
            UNIQUE (tenant_id, record_key)
        );
        CREATE INDEX IF NOT EXISTS eval_results_tenant_span ON eval_results (tenant_id, span_id);
        CREATE INDEX IF NOT EXISTS eval_results_tenant_trace ON eval_results (tenant_id, trace_id);
        """,
    ),
    (
        "pg_m003_feedback",
        """
        CREATE TABLE IF NOT EXISTS feedback (
            id          bigserial PRIMARY KEY,
            tenant_id   text NOT NULL,
            record_key  text NOT NULL,
            trace_id    text NOT NULL,
            span_id     text,
            rating      text,
            score       double precision,
            note        text,
            created_at  timestamptz NOT NULL,
            UNIQUE (tenant_id, record_key)
        );
        CREATE INDEX IF NOT EXISTS feedback_tenant_created ON feedback (tenant_id, created_at DESC, id DESC);
        CREATE INDEX IF NOT EXISTS feedback_tenant_trace ON feedback (tenant_id, trace_id);
        """,
    ),
    (
        "pg_m004_api_keys",
        """
        CREATE TABLE IF NOT EXISTS api_keys (
            key_id      text PRIMARY KEY,
            tenant_id   text NOT NULL,
            scope       text NOT NULL,
            salt        text NOT NULL,
            secret_hash text NOT NULL,
            name        text,
            created_at  text NOT NULL,
            revoked_at  text
        );
        """,
    ),
    ("pg_m005_rollups", _pg_m005_rollups),
    ("pg_m006_list_indexes", _LIST_INDEXES),
    # Daily x retention-class partitions (``_pg_partitions``): converts existing data in place.
    ("pg_m007_partitioned_spans", _partition_spans),
    # Per-key token buckets shared by every collector process (``PostgresStore.take_token``).
    (
        "pg_m008_rate_buckets",
        "CREATE TABLE IF NOT EXISTS rate_buckets (key text PRIMARY KEY, tokens float8 NOT NULL, "
        "at timestamptz NOT NULL)",
    ),
    # Text search over input and output (``q``): its trigram index now follows ``--text-search``.
    ("pg_m009_text_search", _pg_m009_text_search),
    ("pg_m010_user_rollups", _pg_m010_user_rollups),
    ("pg_m011_partial_list_indexes", _PARTIAL_LIST_INDEXES),
    # Settings that belong to the database, not to one process (``text_search``: ``_pg_text_search``).
    (
        "pg_m012_settings",
        "CREATE TABLE IF NOT EXISTS _peekr_settings (name text PRIMARY KEY, value text NOT NULL, "
        "set_at timestamptz NOT NULL)",
    ),
]
