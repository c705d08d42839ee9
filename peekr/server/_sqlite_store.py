"""SQLite storage for the collector: the local ``traces.db`` schema plus API keys.

sqlite3 calls run in worker threads (``anyio.to_thread``) so the event loop keeps serving.
One connection writes and one reads, each behind its own lock; WAL lets them overlap, and
several collector processes may share the file (busy timeout), though PostgreSQL is the
backend for that.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio.to_thread

from .._events import EvalResult, Feedback
from .._span import Span
from ._keys import ApiKey
from ._sqlite_migrations import migrate
from ._sqlite_rollups import apply_new_records, existing, purge_spans, read_aggregates, read_scores, register_functions
from ._store import (
    TEXT_SCAN_LIMIT,
    AggregateQuery,
    IngestCounts,
    TraceFilter,
    TracePage,
    experiment_span,
    feedback_row,
    format_time,
    trace_summary,
)

__all__ = ["WORST_EXPRESSIONS", "SQLiteStore"]

#: The SQL value each non-score worst-offender ranking orders by (the collector's and ``peekr ui``'s).
WORST_EXPRESSIONS = {
    "latency": "s.duration_ms",
    "cost": "json_extract(s.attributes, '$.cost_usd')",
    "tokens": "json_extract(s.attributes, '$.tokens_total')",
}

T = TypeVar("T")
Attrs = dict[str, Any]

_SPAN_SUMMARY = (
    "s.span_id, s.trace_id, s.name, json_extract(s.attributes, '$.model') AS model, "
    "s.start_time, s.duration_ms, s.status"
)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class SQLiteStore:
    """The embedded collector store: one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the file if needed and migrate it forward."""
        await anyio.to_thread.run_sync(self._open_sync)

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _create_with_umask(self.path)
        writer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        register_functions(writer)
        migrate(writer)
        reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        reader.execute("PRAGMA busy_timeout = 10000")
        reader.row_factory = sqlite3.Row
        self._writer, self._reader = writer, reader

    async def close(self) -> None:
        """Close both connections."""
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._writer = self._reader = None

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            with self._wlock:
                if self._writer is None:
                    raise RuntimeError("SQLiteStore is not open")
                self._writer.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self._writer)
                except Exception:
                    self._writer.execute("ROLLBACK")
                    raise
                self._writer.execute("COMMIT")
                return result

        return await anyio.to_thread.run_sync(run)

    async def _read_with(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            with self._rlock:
                if self._reader is None:
                    raise RuntimeError("SQLiteStore is not open")
                return fn(self._reader)

        return await anyio.to_thread.run_sync(run)

    async def _read(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> list[sqlite3.Row]:
        def run() -> list[sqlite3.Row]:
            with self._rlock:
                if self._reader is None:
                    raise RuntimeError("SQLiteStore is not open")
                return self._reader.execute(sql, params).fetchall()

        return await anyio.to_thread.run_sync(run)

    # -- rate limits ----------------------------------------------------------------------

    async def take_token(self, key: str, rate: float, burst: int) -> float:
        """Take a token from ``key``'s bucket, shared by every process on this file (read and write
        in one ``BEGIN IMMEDIATE`` transaction); return 0 if granted, else the seconds until one is due."""

        def take(db: sqlite3.Connection) -> float:
            now = time.time()
            row = db.execute("SELECT tokens, at FROM rate_buckets WHERE key = ?", (key,)).fetchone()
            tokens = float(burst) if row is None else min(float(burst), row[0] + max(0.0, now - row[1]) * rate)
            if tokens < 1.0:
                return (1.0 - tokens) / rate
            db.execute(
                "INSERT INTO rate_buckets (key, tokens, at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, at = excluded.at",
                (key, tokens - 1.0, now),
            )
            return 0.0

        return await self._write(take)

    # -- keys -----------------------------------------------------------------------------

    async def create_key(self, key: ApiKey) -> None:
        """Store a new key."""
        await self._write(
            partial(
                _exec,
                "INSERT INTO api_keys (key_id, tenant_id, scope, salt, secret_hash, name, created_at, revoked_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key.key_id, key.tenant_id, key.scope, key.salt, key.secret_hash, key.name, key.created_at, None),
            )
        )

    async def get_key(self, key_id: str) -> ApiKey | None:
        """Read one key (every request: revocation is seen at once)."""
        rows = await self._read(
            "SELECT key_id, tenant_id, scope, salt, secret_hash, created_at, name, revoked_at "
            "FROM api_keys WHERE key_id = ?",
            (key_id,),
        )
        return ApiKey(*rows[0]) if rows else None

    async def revoke_key(self, key_id: str) -> bool:
        """Mark a key revoked."""

        def run(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE api_keys SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                "WHERE key_id = ? AND revoked_at IS NULL",
                (key_id,),
            )
            return cur.rowcount == 1

        return await self._write(run)

    async def list_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        """Keys, oldest first."""
        sql = "SELECT key_id, tenant_id, scope, salt, secret_hash, created_at, name, revoked_at FROM api_keys"
        rows = await (
            self._read(sql + " WHERE tenant_id = ? ORDER BY created_at", (tenant_id,))
            if tenant_id
            else self._read(sql + " ORDER BY created_at")
        )
        return [ApiKey(*row) for row in rows]

    # -- ingest ---------------------------------------------------------------------------

    async def ingest(
        self,
        tenant_id: str,
        spans: Sequence[Span],
        evals: Sequence[tuple[EvalResult, str]],
        feedback: Sequence[tuple[Feedback, str]],
    ) -> IngestCounts:
        """Insert what is new in one transaction; existing span ids / record keys are skipped."""
        span_rows = [
            (
                s.span_id, s.trace_id, s.parent_id, s.name, s.start_time, s.end_time, s.duration_ms,
                s.status, tenant_id, s.retention_class, _json(s.attributes),
            )
            for s in spans
        ]  # fmt: skip
        eval_rows = [
            (
                e.span_id, e.trace_id, e.evaluator, e.status, _json(e.scores), _json(e.attributes),
                e.error, e.created_at, tenant_id, key,
            )
            for e, key in evals
        ]  # fmt: skip
        fb_rows = [
            (f.trace_id, f.span_id, f.rating, f.score, f.note, f.created_at, tenant_id, key) for f, key in feedback
        ]

        def run(db: sqlite3.Connection) -> IngestCounts:
            before = db.total_changes
            # What is new decides what the rollups count: a retried batch changes nothing.
            seen = existing(db, "spans", "span_id", tenant_id, [s.span_id for s in spans])
            new_spans = []
            for s in spans:
                if s.span_id not in seen:
                    seen.add(s.span_id)
                    new_spans.append(
                        (s.span_id, s.start_time, s.name, s.status, s.duration_ms, cast(Attrs, s.attributes))
                    )
            seen = existing(db, "eval_results", "record_key", tenant_id, [k for _, k in evals])
            new_evals = []
            for e, key in evals:
                if key not in seen:
                    seen.add(key)
                    new_evals.append((e.span_id, e.status, e.created_at, e.scores))
            db.executemany(
                "INSERT OR IGNORE INTO spans (span_id, trace_id, parent_id, name, start_time, end_time, "
                "duration_ms, status, tenant_id, retention_class, attributes) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                span_rows,
            )
            db.executemany(
                "INSERT OR IGNORE INTO eval_results (span_id, trace_id, evaluator, status, scores, attributes, "
                "error, created_at, tenant_id, record_key) VALUES (?,?,?,?,?,?,?,?,?,?)",
                eval_rows,
            )
            db.executemany(
                "INSERT OR IGNORE INTO feedback (trace_id, span_id, rating, score, note, created_at, tenant_id, "
                "record_key) VALUES (?,?,?,?,?,?,?,?)",
                fb_rows,
            )
            stored = db.total_changes - before
            apply_new_records(db, tenant_id, new_spans, new_evals)
            return IngestCounts(stored=stored, duplicates=len(span_rows) + len(eval_rows) + len(fb_rows) - stored)

        return await self._write(run)

    # -- queries --------------------------------------------------------------------------

    async def list_traces(
        self, tenant_id: str, filt: TraceFilter, limit: int, cursor: tuple[str, str] | None
    ) -> TracePage:
        """Trace summaries, newest first."""
        clause, params = trace_filter_sql(filt, tenant_id)
        match = text_match_sql(filt, params)
        order, resume = await self._read_with(partial(page_trace_ids, clause, params, limit, cursor, match=match))
        if not order:
            return TracePage([], resume)
        marks = ",".join("?" * len(order))
        sql = f"""
            SELECT s.trace_id, MIN(s.start_time) AS start_time, MAX(s.end_time) AS end_time,
                   COUNT(*) AS span_count, SUM(s.status = 'error') AS error_count,
                   SUM(json_extract(s.attributes, '$.tokens_total')) AS tokens_total,
                   SUM(json_extract(s.attributes, '$.cost_usd')) AS cost_usd,
                   GROUP_CONCAT(DISTINCT json_extract(s.attributes, '$.model')) AS models,
                   (SELECT r.name FROM spans r WHERE r.tenant_id = ? AND r.trace_id = s.trace_id
                    ORDER BY r.parent_id IS NOT NULL, r.start_time LIMIT 1) AS root_name
            FROM spans s WHERE s.tenant_id = ? AND s.trace_id IN ({marks}) GROUP BY s.trace_id
        """
        rows = {r["trace_id"]: r for r in await self._read(sql, [tenant_id, tenant_id, *order])}
        return TracePage(
            [{**trace_summary(dict(rows[t])), "sort_key": k} for t, k in order.items() if t in rows], resume
        )

    async def resolve_trace_id(self, tenant_id: str, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` of this tenant's trace ids starting with ``prefix``, along the trace index."""
        rows = await self._read(
            "SELECT DISTINCT trace_id FROM spans WHERE tenant_id = ? AND trace_id >= ? AND trace_id < ? "
            "ORDER BY trace_id LIMIT ?",
            (tenant_id, prefix, prefix + "g", limit),
        )
        return [r[0] for r in rows]

    async def get_trace(
        self, tenant_id: str, trace_id: str
    ) -> tuple[list[dict[str, Any]], list[EvalResult], list[dict[str, Any]]]:
        """Spans, eval results and feedback of one trace."""
        spans = await self._read(
            "SELECT span_id, trace_id, parent_id, name, start_time, end_time, duration_ms, status, tenant_id, "
            "retention_class, attributes FROM spans WHERE tenant_id = ? AND trace_id = ? ORDER BY start_time, span_id",
            (tenant_id, trace_id),
        )
        evals = await self._read(
            "SELECT span_id, trace_id, evaluator, status, scores, attributes, error, created_at, tenant_id "
            "FROM eval_results WHERE tenant_id = ? AND trace_id = ? ORDER BY created_at, id",
            (tenant_id, trace_id),
        )
        fb = await self._read(
            "SELECT id, trace_id, span_id, rating, score, note, created_at FROM feedback "
            "WHERE tenant_id = ? AND trace_id = ? ORDER BY created_at, id",
            (tenant_id, trace_id),
        )
        span_dicts = [{**dict(r), "attributes": json.loads(r["attributes"])} for r in spans]
        results = [
            EvalResult.model_construct(
                **{**dict(r), "scores": json.loads(r["scores"]), "attributes": json.loads(r["attributes"])}
            )
            for r in evals
        ]
        return span_dicts, results, [feedback_row(dict(r)) for r in fb]

    async def aggregates(self, tenant_id: str, query: AggregateQuery) -> list[dict[str, Any]]:
        """From the rollups: exact sums, latency percentiles within 4.4 % (see ``_rollups``)."""
        return await self._read_with(
            _snapshot(read_aggregates, tenant_id, query.since, query.until, query.group_by, query.interval, query.top)
        )

    async def score_histogram(
        self, tenant_id: str, metric: str, bins: int, since: str, until: str
    ) -> tuple[list[int], int, float | None]:
        """Latest score per span for ``metric``, binned over [0, 1], from the score rollups."""
        return await self._read_with(_snapshot(read_scores, tenant_id, metric, bins, since, until))

    async def experiment_spans(
        self, tenant_id: str, since: str, until: str, limit: int, experiment: str | None = None
    ) -> list[dict[str, Any]]:
        """Model-call spans of experiments, newest first, with their latest scores."""
        params: dict[str, Any] = {"tenant": tenant_id, "since": since, "until": until, "limit": limit}
        only = ""
        if experiment is not None:
            only = "AND json_extract(s.attributes, '$.experiment') = :experiment"
            params["experiment"] = experiment
        rows = await self._read(
            "SELECT s.trace_id, s.span_id, s.status, s.duration_ms, s.attributes, "
            "(SELECT json_group_object(sc.metric, sc.score) FROM span_scores sc "
            " WHERE sc.tenant_id = s.tenant_id AND sc.span_id = s.span_id) AS scores "
            "FROM spans s WHERE s.tenant_id = :tenant AND s.start_time >= :since AND s.start_time < :until "
            "AND json_extract(s.attributes, '$.experiment') IS NOT NULL "
            f"AND json_extract(s.attributes, '$.model') IS NOT NULL {only} "
            "ORDER BY s.start_time DESC LIMIT :limit",
            params,
        )
        return [experiment_span(dict(r), json.loads(r["scores"] or "{}")) for r in rows]

    async def worst(self, tenant_id: str, metric: str, limit: int, since: str, until: str) -> list[dict[str, Any]]:
        """Worst spans first."""
        params = {"tenant": tenant_id, "metric": metric, "since": since, "until": until, "limit": limit}
        window = "s.tenant_id = :tenant AND s.start_time >= :since AND s.start_time < :until"
        if metric == "hallucination":
            sql = (
                f"SELECT {_SPAN_SUMMARY}, l.score AS value FROM span_scores l JOIN spans s "
                f"ON s.tenant_id = l.tenant_id AND s.span_id = l.span_id WHERE l.tenant_id = :tenant "
                f"AND l.metric = :metric AND l.score >= 0 AND l.span_start >= :since AND l.span_start < :until "
                f"AND {window} ORDER BY value ASC, s.start_time DESC LIMIT :limit"
            )
        else:
            expr = WORST_EXPRESSIONS[metric]
            sql = (
                f"SELECT {_SPAN_SUMMARY}, {expr} AS value FROM spans s WHERE {window} AND {expr} IS NOT NULL "
                f"ORDER BY value DESC, s.start_time DESC LIMIT :limit"
            )
        return [dict(r) for r in await self._read(sql, params)]

    async def list_feedback(
        self, tenant_id: str, rating: str | None, limit: int, before: tuple[str, str] | None
    ) -> list[dict[str, Any]]:
        """Newest feedback first."""
        where = ["tenant_id = :tenant"]
        params: dict[str, Any] = {"tenant": tenant_id, "limit": limit}
        if rating:
            where.append("rating = :rating")
            params["rating"] = rating
        if before is not None:
            where.append("(created_at < :cs OR (created_at = :cs AND id < :cid))")
            params["cs"], params["cid"] = before[0], int(before[1])
        rows = await self._read(
            "SELECT id, trace_id, span_id, rating, score, note, created_at FROM feedback "
            f"WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT :limit",
            params,
        )
        return [feedback_row(dict(r)) for r in rows]

    async def purge(self, retention_days: Mapping[str, float], now: datetime) -> int:
        """Delete expired spans with their eval results; then orphaned feedback and results."""
        cutoffs = {cls: format_time(now - timedelta(days=days)) for cls, days in retention_days.items()}
        longest = format_time(now - timedelta(days=max(retention_days.values())))
        default = cutoffs.get("default", longest)

        def run(db: sqlite3.Connection) -> int:
            deleted = 0
            for cls, cutoff in cutoffs.items():
                purge_spans(db, "retention_class = ? AND start_time < ?", (cls, cutoff))
                db.execute(
                    "DELETE FROM eval_results WHERE EXISTS (SELECT 1 FROM spans s WHERE s.tenant_id = "
                    "eval_results.tenant_id AND s.span_id = eval_results.span_id AND s.retention_class = ? "
                    "AND s.start_time < ?)",
                    (cls, cutoff),
                )
                deleted += db.execute(
                    "DELETE FROM spans WHERE retention_class = ? AND start_time < ?", (cls, cutoff)
                ).rowcount
            db.execute(
                "DELETE FROM feedback WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM spans s "
                "WHERE s.tenant_id = feedback.tenant_id AND s.trace_id = feedback.trace_id)",
                (default,),
            )
            db.execute(
                "DELETE FROM eval_results WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM spans s "
                "WHERE s.tenant_id = eval_results.tenant_id AND s.span_id = eval_results.span_id)",
                (longest,),
            )
            # Latest scores of spans that never arrived go with their eval results.
            db.execute("DELETE FROM span_scores WHERE span_start IS NULL AND created_at < ?", (longest,))
            return deleted

        return await self._write(run)


def trace_filter_sql(filt: TraceFilter, tenant_id: str | None, *, local: bool = False) -> tuple[str, dict[str, Any]]:
    """The WHERE clause and parameters of the spans a trace-list filter matches (``None``: every tenant).

    The text search is not part of it (see ``text_match_sql``): the page walk evaluates it per span
    so that it can stop after ``TEXT_SCAN_LIMIT`` spans. Scores come from the collector's
    ``span_scores`` (the latest score of each span and metric), or with ``local`` from a local
    ``traces.db``'s ``eval_results`` (the latest ok result carrying the metric).
    """
    where = ["1 = 1"] if tenant_id is None else ["tenant_id = :tenant"]
    params: dict[str, Any] = {} if tenant_id is None else {"tenant": tenant_id}
    if filt.name:
        where.append("substr(name, 1, length(:name)) = :name")
        params["name"] = filt.name
    if filt.status:
        where.append("status = :status")
        params["status"] = filt.status
    for attr in ("model", "feature", "endpoint", "user_id", "session_id", "experiment_variant"):
        value = getattr(filt, attr)
        if value is not None:
            where.append(f"json_extract(attributes, '$.{attr}') = :{attr}")
            params[attr] = value
    if filt.since:
        where.append("start_time >= :since")
        params["since"] = filt.since
    if filt.until:
        where.append("start_time < :until")
        params["until"] = filt.until
    if filt.min_score is not None or filt.max_score is not None:
        params["metric"] = filt.metric
        params["min_score"] = 0.0 if filt.min_score is None else filt.min_score
        params["max_score"] = 1.0 if filt.max_score is None else filt.max_score
        if local:
            path = "'$.\"' || :metric || '\"'"
            where.append(
                f"(SELECT json_extract(e.scores, {path}) FROM eval_results e WHERE e.span_id = spans.span_id "
                f"AND e.status = 'ok' AND json_type(e.scores, {path}) IS NOT NULL ORDER BY e.created_at DESC, "
                "e.id DESC LIMIT 1) BETWEEN :min_score AND :max_score"
            )
        else:
            where.append(
                "EXISTS (SELECT 1 FROM span_scores sc WHERE sc.tenant_id = spans.tenant_id "
                "AND sc.span_id = spans.span_id AND sc.metric = :metric AND sc.score >= 0 "
                "AND sc.score BETWEEN :min_score AND :max_score)"
            )
    return " AND ".join(where), params


def text_match_sql(filt: TraceFilter, params: dict[str, Any]) -> str | None:
    """The SQL condition of the text search (its parameter added to ``params``), or None.

    A case-insensitive (ASCII letters) substring match on the span's input and output as stored
    (``json_extract`` of both in one parse of the attributes).
    """
    if not filt.text:
        return None
    escaped = filt.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    params["text"] = f"%{escaped}%"
    return "coalesce(json_extract(attributes, '$.input', '$.output'), '') LIKE :text ESCAPE '\\'"


def page_trace_ids(
    where: str,
    params: dict[str, Any],
    limit: int,
    cursor: tuple[str, str] | None,
    db: sqlite3.Connection,
    *,
    match: str | None = None,
    scan_limit: int = TEXT_SCAN_LIMIT,
) -> tuple[dict[str, str], tuple[str, str] | None]:
    """One page of trace ids, newest first, keyed by their latest matching span's start time.

    Walks matching spans newest first along the (tenant_id, start_time) index and stops once the
    page is full, so the cost follows the page size, not the table size. A trace already shown on
    an earlier page (it has a matching span after the cursor) is skipped.

    ``match`` (the text search) is evaluated per span walked, and at most ``scan_limit`` spans are
    walked: if the page is not full by then, the second value is the (start_time, trace_id) the
    walk stopped at, where the next page continues.
    """
    params = dict(params)
    after = ""
    if cursor is not None:
        after = " AND (start_time < :cs OR (start_time = :cs AND trace_id < :ct))"
        params["cs"], params["ct"] = cursor
    hit = match or "1"
    full = where if match is None else f"{where} AND {match}"
    cur = db.execute(
        f"SELECT trace_id, start_time, {hit} FROM spans WHERE {where}{after} ORDER BY start_time DESC, trace_id DESC",
        params,
    )
    page: dict[str, str] = {}
    skipped: set[str] = set()
    scanned = 0
    last: tuple[str, str] | None = None
    stopped = False
    while len(page) < limit and not stopped:
        rows = cur.fetchmany(256)
        if not rows:
            break
        for trace_id, start, matched in rows:
            scanned += 1
            last = (start, trace_id)
            if match is not None and scanned >= scan_limit:
                stopped = True
                # The next page continues strictly after (start, trace_id): a match among the
                # trace's other spans of that instant, not walked yet, counts here or is never seen.
                matched = matched or _group_matches(db, full, params, start, trace_id)
            if not matched or trace_id in page or trace_id in skipped:
                if stopped:
                    break
                continue
            if cursor is not None and _shown_before(db, full, params, trace_id):
                skipped.add(trace_id)
            else:
                page[trace_id] = start
            if len(page) == limit or stopped:
                break
    cur.close()
    resume = last if stopped and len(page) < limit else None
    return page, resume


def _group_matches(db: sqlite3.Connection, where: str, params: dict[str, Any], start: str, trace_id: str) -> bool:
    row = db.execute(
        f"SELECT 1 FROM spans WHERE {where} AND start_time = :gs AND trace_id = :gt LIMIT 1",
        {**params, "gs": start, "gt": trace_id},
    ).fetchone()
    return row is not None


def _shown_before(db: sqlite3.Connection, where: str, params: dict[str, Any], trace_id: str) -> bool:
    row = db.execute(
        f"SELECT 1 FROM spans WHERE {where} AND trace_id = :tid AND (start_time > :cs "
        "OR (start_time = :cs AND trace_id >= :ct)) LIMIT 1",
        {**params, "tid": trace_id},
    ).fetchone()
    return row is not None


def _snapshot(fn: Callable[..., T], *args: Any) -> Callable[[sqlite3.Connection], T]:
    def run(db: sqlite3.Connection) -> T:
        # One read transaction: the rollups and the edge spans are read from the same snapshot.
        db.execute("BEGIN")
        try:
            return fn(db, *args)
        finally:
            db.execute("COMMIT")

    return run


def _create_with_umask(path: Path) -> None:
    """Create the file with mode 0666 minus the umask, as other tools do (SQLite would use 0644).

    The -wal and -shm files take the database file's mode.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return
    os.close(fd)


def _exec(sql: str, params: Sequence[Any], db: sqlite3.Connection) -> None:
    db.execute(sql, params)
