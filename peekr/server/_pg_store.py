"""PostgreSQL storage for the collector (asyncpg): COPY ingest, daily partitions, per-tenant indexes.

For teams that outgrow one machine: several stateless collector processes share one
database. asyncpg runs on asyncio, which is what uvicorn serves the app on. Spans are
COPYed into a per-connection temporary staging table, then moved with one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` (idempotent: a retried batch inserts nothing).
``spans`` is partitioned by day and retention class (``_pg_partitions``): the purge drops
whole expired partitions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, cast

from .._events import EvalResult, Feedback
from .._span import Span
from ._keys import ApiKey
from ._pg_partitions import day_of, day_table, ensure_days, existing_days, leaf_table, leaves_of
from ._pg_rollups import apply_new_records, lock_tenant, purge_spans, read_aggregates, read_scores
from ._pg_schema import PG_MIGRATIONS, TEXT_SEARCH_EXPR
from ._pg_text_search import TEXT_SEARCH_MODES, apply_setting, trigram_index_exists
from ._store import (
    TEXT_SCAN_LIMIT,
    AggregateQuery,
    IngestCounts,
    TraceFilter,
    TracePage,
    experiment_span,
    feedback_row,
    format_time,
    parse_time,
    trace_summary,
)

try:
    import asyncpg
    import orjson
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("PostgreSQL storage needs asyncpg and orjson: pip install 'peekr-sdk[server]'") from exc

__all__ = ["PostgresStore"]

_log = logging.getLogger("peekr.server")
_MIGRATION_LOCK = 7_253_001  # pg_advisory_xact_lock key: one migrator at a time
_PURGE_LOCK = 7_253_003
_WALK_CHUNK = 256  # spans per step of the trace list's page walk
_INGEST_SLOTS = 2  # ingest transactions one process runs at once
_KEY_COLUMNS = "key_id, tenant_id, scope, salt, secret_hash, created_at, name, revoked_at"
_STAGE = "peekr_stage_spans"
_STAGE_COLUMNS = (
    "span_id", "trace_id", "parent_id", "name", "start_time", "end_time", "duration_ms", "status",
    "retention_class", "attributes",
)  # fmt: skip
_REFILL = "least($3, b.tokens + $2 * extract(epoch FROM now() - b.at)::float8)"
# A refused request changes nothing (the refill is a function of the time since ``at``), so no row comes back.
_TAKE_TOKEN = f"""
INSERT INTO rate_buckets AS b (key, tokens, at) VALUES ($1, $3 - 1, now())
ON CONFLICT (key) DO UPDATE SET tokens = {_REFILL} - 1, at = now() WHERE {_REFILL} >= 1
RETURNING b.tokens
"""
_TOKENS_NOW = f"SELECT {_REFILL} FROM rate_buckets b WHERE b.key = $1"
#: datetimes and dataclasses go through ``default=str``, as ``json.dumps(default=str)`` writes them.
_ORJSON_AS_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_SPAN_SUMMARY = "s.span_id, s.trace_id, s.name, s.attributes->>'model' AS model, s.start_time, s.duration_ms, s.status"


def _jsonb(value: Any) -> str:
    """JSON text for a ``jsonb`` column.

    jsonb refuses \\u0000 and lone surrogates (both valid JSON): they are replaced rather than fail the
    batch. orjson writes it about 20x faster than ``json.dumps`` (10 us of a ~1 KB span's 60 us
    of Python at ingest); what orjson refuses (lone surrogates, integers beyond 64 bits, keys that
    are not strings) goes the ``json.dumps`` way, as before. (Non-finite floats, which jsonb cannot
    hold and validation rejects, become null.)
    """
    try:
        text = orjson.dumps(value, default=str, option=_ORJSON_AS_JSON).decode()
    except TypeError:  # orjson.JSONEncodeError
        text = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
        return text.replace("\\u0000", "\\ufffd").encode("utf-8", "replace").decode("utf-8")
    return text.replace("\\u0000", "\\ufffd")


def _text(value: str | None) -> str | None:
    """PostgreSQL text holds neither NUL nor lone surrogates; SQLite does. Replace them."""
    if value is None:
        return None
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _ts(value: str) -> str:
    """A canonical timestamp, sent as text and cast in SQL (``$n::text::timestamptz``).

    asyncpg sends ``datetime.min``/``max`` as -infinity/infinity, so years 1 and 9999 go as text.
    Validated spans already carry the canonical form: checked in C, not parsed and formatted again.
    """
    if _CANONICAL.fullmatch(value):
        try:
            datetime.fromisoformat(value[:-1])  # a real date (no 2026-02-30)
            return value
        except ValueError:
            pass  # parse_time explains it
    return format_time(parse_time(value))


async def _init_connection(conn: asyncpg.Connection) -> None:
    """Every pooled connection gets its own staging table for COPY (emptied at each commit)."""
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (span_id text, trace_id text, parent_id text, name text, "
        "start_time text, end_time text, duration_ms float8, status text, retention_class text, attributes text) "
        "ON COMMIT DELETE ROWS"
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a pooled connection needs on release beyond asyncpg's own rollback of an open transaction:
    nothing. The store changes no session state (settings are ``SET LOCAL``, advisory locks and
    cursors are transaction-scoped, nothing LISTENs), so asyncpg's default reset (``pg_advisory_unlock_all``,
    ``CLOSE ALL``, ``UNLISTEN *``, ``RESET ALL``: one more round trip per query, three per ingest
    request) is skipped."""


def _guard_lost(conn: asyncpg.Connection) -> None:
    _log.warning(
        "Lost the PostgreSQL connection that holds this collector's --text-search setting: until it is "
        "restarted, a collector started with the other value could switch the setting"
    )


def _no_partition(exc: Exception) -> bool:
    return isinstance(exc, asyncpg.CheckViolationError) and "no partition" in str(exc)


class PostgresStore:
    """Collector storage in PostgreSQL."""

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        text_search: str | None = "trigram",
        text_scan_limit: int = TEXT_SCAN_LIMIT,
    ) -> None:
        """A store on ``dsn`` (call ``open``).

        Args:
            dsn: a ``postgresql://`` DSN.
            min_size: connections the pool keeps open.
            max_size: most connections of the pool.
            text_search: ``trigram`` or ``scan`` (``_pg_text_search``), applied to the database at
                ``open``; None leaves the database's setting alone (key management).
            text_scan_limit: spans a ``scan`` text search reads per request.

        Raises:
            ValueError: ``text_search`` is not ``trigram``, ``scan`` or None.
        """
        if text_search is not None and text_search not in TEXT_SEARCH_MODES:
            raise ValueError(f"text_search={text_search!r} must be one of {', '.join(TEXT_SEARCH_MODES)}")
        self.dsn = dsn
        self._min, self._max = min_size, max_size
        self._pool: asyncpg.Pool | None = None
        self._days: set[date] = set()  # days known to have partitions (another process may drop them)
        self._text_search = text_search
        self._scan_limit = text_scan_limit
        self._guard: asyncpg.Connection | None = None
        self._trigram = True  # the database has the trigram index (read at open)
        # Ingest transactions of this process at a time (the others wait here, not in PostgreSQL):
        # more in flight only add lock and buffer contention (8 in flight cost 6 us more PostgreSQL
        # CPU per span than 2 on 2 cores, and 5 us more in the collector; bench_pg_scale.py).
        self._ingest_slots = asyncio.Semaphore(_INGEST_SLOTS)

    @property
    def pool(self) -> asyncpg.Pool:
        """The connection pool.

        Raises:
            RuntimeError: the store is not open.
        """
        if self._pool is None:
            raise RuntimeError("PostgresStore is not open")
        return self._pool

    async def open(self) -> None:
        """Connect and apply the migrations this database does not have yet."""
        # JIT off: a query over many partitions is costed high enough to be JIT-compiled, which took
        # 39 s for one trace-list page over 124 partitions; these short queries never gain from it.
        # Generic plans: planning a query over every daily partition took 17-70 ms per execution
        # (124 partitions, 2M spans); a prepared statement's generic plan prunes partitions at
        # execution instead (1-6 ms for the same queries).
        settings = {"jit": "off", "plan_cache_mode": "force_generic_plan"}
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self._min,
            max_size=self._max,
            init=_init_connection,
            reset=_keep_session,
            server_settings=settings,
        )
        try:
            if self._text_search is None:  # key management: the database's setting stays as it is
                async with self.pool.acquire() as conn:
                    await self._migrate(conn)
            else:  # the guard of this process's --text-search value lives on its own connection
                self._guard = await asyncpg.connect(self.dsn, server_settings=settings)
                self._guard.add_termination_listener(_guard_lost)
                await self._migrate(self._guard)
        except Exception:
            await self.close()
            raise
        today = datetime.now(timezone.utc).date()
        async with self.pool.acquire() as conn:  # created ahead: today and tomorrow
            self._days = await ensure_days(conn, [today, today + timedelta(days=1)])

    async def _migrate(self, conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS _peekr_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM _peekr_migrations")}
            for name, step in PG_MIGRATIONS:
                if name not in done:
                    if isinstance(step, str):
                        await conn.execute(step)
                    else:
                        await step(conn)
                    await conn.execute("INSERT INTO _peekr_migrations VALUES ($1, now())", name)
            if self._text_search is not None:
                await apply_setting(conn, self._text_search)
            self._trigram = await trigram_index_exists(conn)

    async def close(self) -> None:
        """Close the pool (and release this process's hold on the text-search setting)."""
        if self._guard is not None:
            self._guard.remove_termination_listener(_guard_lost)
            await self._guard.close()
            self._guard = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # -- keys -----------------------------------------------------------------------------

    async def create_key(self, key: ApiKey) -> None:
        """Store a new key."""
        await self.pool.execute(
            f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
            key.key_id, key.tenant_id, key.scope, key.salt, key.secret_hash, key.created_at, key.name,
        )  # fmt: skip

    async def get_key(self, key_id: str) -> ApiKey | None:
        """Read one key."""
        row = await self.pool.fetchrow(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = $1", key_id)
        return ApiKey(*row) if row else None

    async def revoke_key(self, key_id: str) -> bool:
        """Mark a key revoked."""
        now = format_time(datetime.now().astimezone())
        status = await self.pool.execute(
            "UPDATE api_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL", key_id, now
        )
        return bool(status.endswith(" 1"))

    async def list_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        """Keys, oldest first."""
        if tenant_id:
            rows = await self.pool.fetch(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at", tenant_id
            )
        else:
            rows = await self.pool.fetch(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at")
        return [ApiKey(*r) for r in rows]

    # -- rate limits ----------------------------------------------------------------------

    async def take_token(self, key: str, rate: float, burst: int) -> float:
        """Take a token from ``key``'s bucket, shared by every process on this database (one atomic
        upsert on the database's clock); return 0 if granted, else the seconds until one is due."""
        async with self.pool.acquire() as conn:
            if await conn.fetchrow(_TAKE_TOKEN, key, float(rate), float(burst)) is not None:
                return 0.0
            tokens = await conn.fetchval(_TOKENS_NOW, key, float(rate), float(burst))
        return max(1.0 - float(tokens or 0.0), 0.001) / rate

    # -- ingest ---------------------------------------------------------------------------

    async def ingest(
        self,
        tenant_id: str,
        spans: Sequence[Span],
        evals: Sequence[tuple[EvalResult, str]],
        feedback: Sequence[tuple[Feedback, str]],
    ) -> IngestCounts:
        """One transaction: spans by COPY into staging then one INSERT, the rest by ``unnest`` of arrays."""
        starts = [_ts(s.start_time) for s in spans]
        days = {day_of(t) for t in starts}
        async with self._ingest_slots, self.pool.acquire() as conn:
            if not days <= self._days:
                self._days |= await ensure_days(conn, days)
            try:
                return await self._ingest(conn, tenant_id, spans, starts, evals, feedback)
            except asyncpg.CheckViolationError as exc:
                if not _no_partition(exc):
                    raise
                # Another process's purge dropped a day this one thought it had: create it again.
                self._days = await ensure_days(conn, days, leaves=True)
                return await self._ingest(conn, tenant_id, spans, starts, evals, feedback)

    async def _ingest(
        self,
        conn: asyncpg.Connection,
        tenant_id: str,
        spans: Sequence[Span],
        starts: Sequence[str],
        evals: Sequence[tuple[EvalResult, str]],
        feedback: Sequence[tuple[Feedback, str]],
    ) -> IngestCounts:
        stored = 0
        async with conn.transaction():
            if spans or evals:
                await lock_tenant(conn, tenant_id, exclusive=bool(evals))
            new_spans: list[tuple[str, str, str, str, float, dict[str, Any]]] = []
            new_evals: list[tuple[str, str, str, dict[str, Any]]] = []
            if spans:
                await conn.copy_records_to_table(
                    _STAGE,
                    columns=_STAGE_COLUMNS,
                    records=[
                        (s.span_id, s.trace_id, s.parent_id, _text(s.name), start, _ts(s.end_time),
                         float(s.duration_ms), s.status, s.retention_class, _jsonb(s.attributes))
                        for s, start in zip(spans, starts, strict=True)
                    ],
                )  # fmt: skip
                inserted = await conn.fetch(
                    f"""
                    INSERT INTO spans (tenant_id, span_id, trace_id, parent_id, name, start_time, end_time,
                                       duration_ms, status, retention_class, attributes)
                    SELECT $1, u.span_id, u.trace_id, u.parent_id, u.name, u.start_time::timestamptz,
                           u.end_time::timestamptz, u.duration_ms, u.status, u.retention_class, u.attributes::jsonb
                    FROM {_STAGE} u
                    ON CONFLICT DO NOTHING RETURNING span_id
                    """,
                    tenant_id,
                )
                stored += len(inserted)
                # What was inserted decides what the rollups count: a retried batch changes nothing.
                fresh = {r["span_id"] for r in inserted}
                for s, start in zip(spans, starts, strict=True):
                    if s.span_id in fresh:
                        fresh.discard(s.span_id)
                        new_spans.append(
                            (s.span_id, start, _text(s.name) or "", s.status, float(s.duration_ms),
                             cast(dict[str, Any], s.attributes))
                        )  # fmt: skip
            if evals:
                inserted = await conn.fetch(
                    """
                    INSERT INTO eval_results (tenant_id, record_key, span_id, trace_id, evaluator, status, scores,
                                              attributes, error, created_at)
                    SELECT $1, u.k, u.span_id, u.trace_id, u.evaluator, u.status, u.scores::jsonb,
                           u.attributes::jsonb, u.error, u.created_at::timestamptz
                    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                                $9::text[], $10::text[])
                         AS u(k, span_id, trace_id, evaluator, status, scores, attributes, error, created_at)
                    ON CONFLICT DO NOTHING RETURNING record_key
                    """,
                    tenant_id,
                    [k for _, k in evals],
                    [e.span_id for e, _ in evals],
                    [e.trace_id for e, _ in evals],
                    [_text(e.evaluator) for e, _ in evals],
                    [e.status for e, _ in evals],
                    [_jsonb(e.scores) for e, _ in evals],
                    [_jsonb(e.attributes) for e, _ in evals],
                    [_text(e.error) for e, _ in evals],
                    [e.created_at for e, _ in evals],
                )
                stored += len(inserted)
                fresh = {r["record_key"] for r in inserted}
                for e, key in evals:
                    if key in fresh:
                        fresh.discard(key)
                        scores = {_text(m) or "": v for m, v in e.scores.items()}
                        new_evals.append((e.span_id, e.status, format_time(parse_time(e.created_at)), scores))
            if feedback:
                status = await conn.execute(
                    """
                    INSERT INTO feedback (tenant_id, record_key, trace_id, span_id, rating, score, note, created_at)
                    SELECT $1, u.k, u.trace_id, u.span_id, u.rating, u.score, u.note, u.created_at::timestamptz
                    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::text[],
                                $8::text[]) AS u(k, trace_id, span_id, rating, score, note, created_at)
                    ON CONFLICT DO NOTHING
                    """,
                    tenant_id,
                    [k for _, k in feedback],
                    [f.trace_id for f, _ in feedback],
                    [f.span_id for f, _ in feedback],
                    [f.rating for f, _ in feedback],
                    [f.score for f, _ in feedback],
                    [_text(f.note) for f, _ in feedback],
                    [f.created_at for f, _ in feedback],
                )
                stored += int(status.rsplit(" ", 1)[1])
            await apply_new_records(conn, tenant_id, new_spans, new_evals)
        return IngestCounts(stored=stored, duplicates=len(spans) + len(evals) + len(feedback) - stored)

    # -- queries --------------------------------------------------------------------------

    async def list_traces(
        self, tenant_id: str, filt: TraceFilter, limit: int, cursor: tuple[str, str] | None
    ) -> TracePage:
        """Trace summaries, newest first.

        The text search is exact over the whole window with the trigram index (``--text-search
        trigram``); without it (``scan``) the walk reads at most ``text_scan_limit`` spans per
        request and says where it stopped (``TracePage.resume``), as the SQLite store does.
        """
        params: list[Any] = [tenant_id]

        def p(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        where = ["tenant_id = $1"]
        if filt.name:
            where.append(f"starts_with(name, {p(filt.name)})")
        if filt.status:
            where.append(f"status = {p(filt.status)}")
        for attr in ("model", "feature", "endpoint", "user_id", "session_id", "experiment_variant"):
            value = getattr(filt, attr)
            if value is not None:
                where.append(f"attributes->>'{attr}' = {p(_text(value))}")
        if filt.since:
            where.append(f"start_time >= {p(_ts(filt.since))}::text::timestamptz")
        if filt.until:
            where.append(f"start_time < {p(_ts(filt.until))}::text::timestamptz")
        if filt.min_score is not None or filt.max_score is not None:
            low = 0.0 if filt.min_score is None else filt.min_score
            high = 1.0 if filt.max_score is None else filt.max_score
            where.append(
                "EXISTS (SELECT 1 FROM span_scores sc WHERE sc.tenant_id = spans.tenant_id AND sc.span_id = "
                f"spans.span_id AND sc.metric = {p(filt.metric)} AND sc.score >= 0 "
                f"AND sc.score BETWEEN {p(low)}::float8 AND {p(high)}::float8)"
            )
        match = None
        if filt.text:
            # ILIKE: case-insensitive. With the trigram index it is a filter the index answers;
            # without it, a condition the page walk evaluates on each span it reads.
            pattern = _text(filt.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
            match = f"{TEXT_SEARCH_EXPR} ILIKE {p(f'%{pattern}%')}"
            if self._trigram:
                where.append(match)
                match = None
        # Phase 1: one page of trace ids keyed by their latest matching span, walking matching spans
        # newest first along the (tenant_id, start_time) index, so the cost follows the page size.
        # A text or score filter needs a plan made for its values (the trigram index for a rare word,
        # the scores table for a narrow score range); the generic plan fits the other filters.
        custom = (bool(filt.text) and self._trigram) or filt.min_score is not None or filt.max_score is not None
        order, resume = await self._page_trace_ids(
            " AND ".join(where), params, limit, cursor, custom_plan=custom, match=match
        )
        if not order:
            return TracePage([], resume)
        rows = await self.pool.fetch(
            """
            SELECT s.trace_id, min(s.start_time) AS start_time, max(s.end_time) AS end_time,
                   count(*) AS span_count, count(*) FILTER (WHERE s.status = 'error') AS error_count,
                   sum((s.attributes->>'tokens_total')::float8) AS tokens_total,
                   sum((s.attributes->>'cost_usd')::float8) AS cost_usd,
                   string_agg(DISTINCT s.attributes->>'model', ',') AS models,
                   (SELECT r.name FROM spans r WHERE r.tenant_id = $1 AND r.trace_id = s.trace_id
                    ORDER BY r.parent_id IS NOT NULL, r.start_time LIMIT 1) AS root_name
            FROM spans s WHERE s.tenant_id = $1 AND s.trace_id = ANY($2::text[]) GROUP BY s.trace_id
            """,
            tenant_id,
            list(order),
        )
        by_id = {
            r["trace_id"]: {
                **dict(r),
                "start_time": format_time(r["start_time"]),
                "end_time": format_time(r["end_time"]),
            }
            for r in rows
        }
        return TracePage([{**trace_summary(by_id[t]), "sort_key": k} for t, k in order.items() if t in by_id], resume)

    async def resolve_trace_id(self, tenant_id: str, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` of this tenant's trace ids starting with ``prefix`` (lowercase hex)."""
        rows = await self.pool.fetch(
            'SELECT DISTINCT trace_id COLLATE "C" AS trace_id FROM spans WHERE tenant_id = $1 '
            'AND trace_id >= $2 AND trace_id < $3 AND starts_with(trace_id, $2) ORDER BY 1 LIMIT $4',
            tenant_id, prefix, prefix + "g", limit,
        )  # fmt: skip
        return [r["trace_id"] for r in rows]

    async def _page_trace_ids(
        self,
        where: str,
        params: list[Any],
        limit: int,
        cursor: tuple[str, str] | None,
        *,
        custom_plan: bool = False,
        match: str | None = None,
    ) -> tuple[dict[str, str], tuple[str, str] | None]:
        """Trace ids of one page (newest first, keyed by their latest matching span's start), and
        the (start_time, trace_id) a bounded text scan stopped at before the page was full.

        ``match`` (the text search without its index) is evaluated on each span walked, and at most
        ``text_scan_limit`` spans are walked; ``where`` then holds the other filters.
        """
        base = len(params)
        cs, ct = f"${base + 1}::text::timestamptz", f"${base + 2}"
        # ``start_time <= cs`` repeats what the OR implies, as a bound the index scan starts from:
        # with the OR alone PostgreSQL reads the index from the newest span and filters, so each
        # chunk of a long walk re-read every span before it (a 10,000-span text scan: 1.5 s).
        after = (
            f' AND start_time <= {cs} AND (start_time < {cs} OR (start_time = {cs} AND trace_id COLLATE "C" < {ct}))'
        )
        extra = [_ts(cursor[0]), cursor[1]] if cursor is not None else []
        full = where if match is None else f"{where} AND {match}"
        page: dict[str, str] = {}
        skipped: set[str] = set()
        scanned = 0
        stopped_at: tuple[str, str] | None = None  # where a text scan reached its limit
        # Chunks with a LIMIT, each continuing after the last row of the one before: a LIMIT is what
        # makes PostgreSQL walk an index in order rather than sort every matching span (a protocol
        # cursor is planned for reading all rows). Rows sharing (start_time, trace_id) belong to
        # one trace, so continuing strictly after the last one loses nothing (a text scan checks
        # the rest of a group it stops inside: see ``_group_matches``).
        keyset = extra
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            if custom_plan:
                await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            while len(page) < limit and stopped_at is None:
                rows = await conn.fetch(
                    f"SELECT trace_id, start_time, {match or 'true'} AS hit FROM spans "
                    f"WHERE {where}{after if keyset else ''} "
                    f'ORDER BY start_time DESC, trace_id COLLATE "C" DESC LIMIT {_WALK_CHUNK}',
                    *params,
                    *keyset,
                )
                for i, row in enumerate(rows):
                    trace_id, start = row["trace_id"], format_time(row["start_time"])
                    hit = row["hit"]
                    if match is not None:
                        scanned += 1
                        if scanned >= self._scan_limit:
                            stopped_at = (start, trace_id)
                        if not hit and (stopped_at is not None or i == len(rows) - 1):
                            hit = await self._group_matches(conn, full, params, start, trace_id)
                    if not hit or trace_id in page or trace_id in skipped:
                        if stopped_at is not None:
                            break
                        continue
                    if cursor is not None:
                        shown = await conn.fetchval(
                            f"SELECT 1 FROM spans WHERE {full} AND trace_id = ${base + 3} AND (start_time > {cs} "
                            f'OR (start_time = {cs} AND trace_id COLLATE "C" >= {ct})) LIMIT 1',
                            *params,
                            *extra,
                            trace_id,
                        )
                        if shown:
                            skipped.add(trace_id)
                            if stopped_at is not None:
                                break
                            continue
                    page[trace_id] = start
                    if len(page) == limit or stopped_at is not None:
                        break
                if len(rows) < _WALK_CHUNK:
                    break
                keyset = [format_time(rows[-1]["start_time"]), rows[-1]["trace_id"]]
        return page, (stopped_at if len(page) < limit else None)

    async def _group_matches(
        self, conn: asyncpg.Connection, full: str, params: list[Any], start: str, trace_id: str
    ) -> bool:
        """Whether a span of ``trace_id`` starting at ``start`` matches: a walk that stops inside
        such a group (or a chunk that ends inside one) continues strictly after it."""
        n = len(params)
        found = await conn.fetchval(
            f"SELECT 1 FROM spans WHERE {full} AND start_time = ${n + 1}::text::timestamptz AND trace_id = ${n + 2} "
            "LIMIT 1",
            *params,
            start,
            trace_id,
        )
        return found is not None

    async def get_trace(
        self, tenant_id: str, trace_id: str
    ) -> tuple[list[dict[str, Any]], list[EvalResult], list[dict[str, Any]]]:
        """Spans, eval results and feedback of one trace."""
        async with self.pool.acquire() as conn:
            spans = await conn.fetch(
                "SELECT span_id, trace_id, parent_id, name, start_time, end_time, duration_ms, status, tenant_id, "
                "retention_class, attributes::text AS attributes FROM spans WHERE tenant_id = $1 AND trace_id = $2 "
                "ORDER BY start_time, span_id COLLATE \"C\"",
                tenant_id, trace_id,
            )  # fmt: skip
            evals = await conn.fetch(
                "SELECT span_id, trace_id, evaluator, status, scores::text AS scores, attributes::text AS attributes, "
                "error, created_at, tenant_id FROM eval_results WHERE tenant_id = $1 AND trace_id = $2 "
                "ORDER BY created_at, id",
                tenant_id, trace_id,
            )  # fmt: skip
            fb = await conn.fetch(
                "SELECT id, trace_id, span_id, rating, score, note, created_at FROM feedback "
                "WHERE tenant_id = $1 AND trace_id = $2 ORDER BY created_at, id",
                tenant_id, trace_id,
            )  # fmt: skip
        span_dicts = [
            {
                **dict(r),
                "start_time": format_time(r["start_time"]),
                "end_time": format_time(r["end_time"]),
                "attributes": json.loads(r["attributes"]),
            }
            for r in spans
        ]
        results = [
            EvalResult.model_construct(
                **{
                    **dict(r),
                    "scores": json.loads(r["scores"]),
                    "attributes": json.loads(r["attributes"]),
                    "created_at": format_time(r["created_at"]),
                }
            )
            for r in evals
        ]
        return span_dicts, results, [_feedback(r) for r in fb]

    async def aggregates(self, tenant_id: str, query: AggregateQuery) -> list[dict[str, Any]]:
        """From the rollups: exact sums, latency percentiles within 4.4 % (see ``_rollups``)."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            return await read_aggregates(
                conn, tenant_id, _ts(query.since), _ts(query.until), query.group_by, query.interval, query.top
            )

    async def score_histogram(
        self, tenant_id: str, metric: str, bins: int, since: str, until: str
    ) -> tuple[list[int], int, float | None]:
        """Latest score per span for ``metric``, binned over [0, 1], from the score rollups."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            return await read_scores(conn, tenant_id, metric, bins, _ts(since), _ts(until))

    async def experiment_spans(
        self, tenant_id: str, since: str, until: str, limit: int, experiment: str | None = None
    ) -> list[dict[str, Any]]:
        """Model-call spans of experiments, newest first, with their latest scores."""
        only = "" if experiment is None else "AND s.attributes->>'experiment' = $5"
        extra = () if experiment is None else (experiment,)
        rows = await self.pool.fetch(
            "SELECT s.trace_id, s.span_id, s.status, s.duration_ms, s.attributes::text AS attributes, "
            "(SELECT json_object_agg(sc.metric, sc.score) FROM span_scores sc "
            " WHERE sc.tenant_id = s.tenant_id AND sc.span_id = s.span_id)::text AS scores "
            "FROM spans s WHERE s.tenant_id = $1 AND s.start_time >= $2::text::timestamptz "
            "AND s.start_time < $3::text::timestamptz AND s.attributes ? 'experiment' AND s.attributes ? 'model' "
            f"{only} ORDER BY s.start_time DESC LIMIT $4",
            tenant_id, _ts(since), _ts(until), limit, *extra,
        )  # fmt: skip
        return [experiment_span(dict(r), json.loads(r["scores"] or "{}")) for r in rows]

    async def worst(self, tenant_id: str, metric: str, limit: int, since: str, until: str) -> list[dict[str, Any]]:
        """Worst spans first."""
        window = "s.tenant_id = $1 AND s.start_time >= $3::text::timestamptz AND s.start_time < $4::text::timestamptz"
        if metric == "hallucination":
            sql = (
                f"SELECT {_SPAN_SUMMARY}, l.score AS value FROM span_scores l JOIN spans s "
                "ON s.tenant_id = l.tenant_id AND s.span_id = l.span_id WHERE l.tenant_id = $1 AND l.metric = $2 "
                "AND l.score >= 0 AND l.span_start >= $6 AND l.span_start < $7 "
                f"AND {window} ORDER BY value ASC, s.start_time DESC LIMIT $5"
            )
        else:
            expr = {
                "latency": "s.duration_ms",
                "cost": "(s.attributes->>'cost_usd')::float8",
                "tokens": "(s.attributes->>'tokens_total')::float8",
            }[metric]
            # $2 is unused here but keeps the parameter numbering shared with the CTE variant.
            sql = (
                f"SELECT {_SPAN_SUMMARY}, {expr} AS value FROM spans s WHERE {window} AND {expr} IS NOT NULL "
                "AND $2::text IS NOT NULL ORDER BY value DESC, s.start_time DESC LIMIT $5"
            )
        if metric == "hallucination":
            rows = await self.pool.fetch(sql, tenant_id, metric, _ts(since), _ts(until), limit, _ts(since), _ts(until))
        else:
            rows = await self.pool.fetch(sql, tenant_id, metric, _ts(since), _ts(until), limit)
        return [{**dict(r), "start_time": format_time(r["start_time"])} for r in rows]

    async def list_feedback(
        self, tenant_id: str, rating: str | None, limit: int, before: tuple[str, str] | None
    ) -> list[dict[str, Any]]:
        """Newest feedback first."""
        params: list[Any] = [tenant_id, limit]
        where = ["tenant_id = $1"]
        if rating:
            params.append(rating)
            where.append(f"rating = ${len(params)}")
        if before is not None:
            params += [_ts(before[0]), int(before[1])]
            n = len(params)
            at = f"${n - 1}::text::timestamptz"
            where.append(f"(created_at < {at} OR (created_at = {at} AND id < ${n}))")
        rows = await self.pool.fetch(
            "SELECT id, trace_id, span_id, rating, score, note, created_at FROM feedback "
            f"WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT $2",
            *params,
        )
        return [_feedback(r) for r in rows]

    async def purge(self, retention_days: Mapping[str, float], now: datetime) -> int:
        """Drop the expired day x class partitions, delete the expired rows of each cutoff's own day,
        with their eval results (rollups adjusted); then orphaned feedback and results."""
        longest = now - timedelta(days=max(retention_days.values()))
        default = now - timedelta(days=retention_days.get("default", max(retention_days.values())))
        deleted = 0
        drop: list[tuple[date, str]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            # One purge at a time: it takes several tenant locks (ingest takes one), so no deadlock.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _PURGE_LOCK)
            have = await existing_days(conn)
            for cls, days in retention_days.items():
                cutoff = (now - timedelta(days=days)).astimezone(timezone.utc)
                for day in sorted(d for d in have if d < cutoff.date()):
                    leaf = leaf_table(day, cls)
                    if await conn.fetchval("SELECT to_regclass($1)", leaf) is None:
                        continue
                    # SHARE: a late span for this expired leaf waits (then fails and recreates it),
                    # so what is subtracted from the rollups is exactly what is dropped.
                    await conn.execute(f"LOCK TABLE {leaf} IN SHARE MODE")
                    deleted += await purge_spans(conn, "true", table=leaf)
                    await conn.execute(
                        f"DELETE FROM eval_results e USING {leaf} s WHERE s.tenant_id = e.tenant_id "
                        "AND s.span_id = e.span_id"
                    )
                    drop.append((day, leaf))
                # The expired part of the cutoff's own day, row by row.
                where = "retention_class = $1 AND start_time >= $2 AND start_time < $3"
                day_start = datetime.combine(cutoff.date(), datetime.min.time(), timezone.utc)
                await purge_spans(conn, where, cls, day_start, cutoff)
                await conn.execute(
                    "DELETE FROM eval_results e USING spans s WHERE s.tenant_id = e.tenant_id AND "
                    "s.span_id = e.span_id AND s.retention_class = $1 AND s.start_time >= $2 AND s.start_time < $3",
                    cls, day_start, cutoff,
                )  # fmt: skip
                status = await conn.execute(f"DELETE FROM spans WHERE {where}", cls, day_start, cutoff)
                deleted += int(status.rsplit(" ", 1)[1])
            # Dropped last, just before the commit: dropping a partition locks its parent exclusively.
            # Lock root, then days, then leaves: the order queries take them in, so no deadlock.
            if drop:
                await conn.execute("LOCK TABLE ONLY spans IN ACCESS EXCLUSIVE MODE")
                for day in sorted({d for d, _ in drop}):
                    await conn.execute(f"LOCK TABLE ONLY {day_table(day)} IN ACCESS EXCLUSIVE MODE")
            for _day, leaf in drop:
                await conn.execute(f"DROP TABLE {leaf}")
            for day in sorted({d for d, _ in drop}):
                if not await leaves_of(conn, day):
                    await conn.execute(f"DROP TABLE {day_table(day)}")
                    self._days.discard(day)
            await conn.execute(
                "DELETE FROM feedback f WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM spans s "
                "WHERE s.tenant_id = f.tenant_id AND s.trace_id = f.trace_id)",
                default,
            )
            await conn.execute(
                "DELETE FROM eval_results e WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM spans s "
                "WHERE s.tenant_id = e.tenant_id AND s.span_id = e.span_id)",
                longest,
            )
            # Latest scores of spans that never arrived go with their eval results.
            await conn.execute(
                "DELETE FROM span_scores WHERE span_start IS NULL AND created_at < $1", format_time(longest)
            )
        return deleted


def _feedback(row: Mapping[str, Any]) -> dict[str, Any]:
    out = feedback_row(row)
    out["created_at"] = format_time(out["created_at"])
    return out
