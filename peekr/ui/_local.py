"""A read-only collector store over the user's own ``traces.db`` or ``traces.jsonl`` (for ``peekr ui``).

It answers the same queries as the collector's stores, so the same routes and the same web app
serve both. There is no log-in locally: the tenant argument is ``""`` (every span of the file) or
the tenant that ``?tenant=`` names, which then filters every query but one trace's detail. A ``traces.db`` is opened with
:func:`peekr.store._readers.connect_readonly` on every query, so what the app writes appears at once;
a ``traces.jsonl`` is loaded into an in-memory SQLite copy, reloaded when the file changes.
Feedback is written with peekr's own feedback code (:mod:`peekr.store._feedback`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from .._events import EvalResult, Feedback
from .._span import Span
from ..server._keys import ApiKey
from ..server._rollups import top_values
from ..server._sqlite_store import WORST_EXPRESSIONS, page_trace_ids, text_match_sql, trace_filter_sql
from ..server._store import (
    OTHER_GROUP,
    AggregateQuery,
    IngestCounts,
    TraceFilter,
    TracePage,
    aggregate_row,
    experiment_span,
    feedback_row,
    histogram,
    percentile,
    trace_summary,
)
from ..sinks._sqlite_schema import apply_migrations
from ..store._feedback import append_feedback_jsonl, write_feedback
from ..store._readers import JSONLTraces, TraceFileError, connect_readonly, open_traces

__all__ = ["LocalStore"]

T = TypeVar("T")

_BUCKETS = {
    "minute": "substr(start_time, 1, 16) || ':00Z'",
    "hour": "substr(start_time, 1, 13) || ':00:00Z'",
    "day": "substr(start_time, 1, 10) || 'T00:00:00Z'",
}
_LATEST_SCORES = """
    WITH latest AS (
        SELECT span_id, json_extract(scores, '$."' || :metric || '"') AS score,
               ROW_NUMBER() OVER (PARTITION BY span_id ORDER BY created_at DESC, id DESC) AS rn
        FROM eval_results
        WHERE status = 'ok' AND json_type(scores, '$."' || :metric || '"') IS NOT NULL
    )
"""
_SPAN_SUMMARY = (
    "s.span_id, s.trace_id, s.name, json_extract(s.attributes, '$.model') AS model, "
    "s.start_time, s.duration_ms, s.status"
)
_SPAN_COLUMNS = (
    "span_id, trace_id, parent_id, name, start_time, end_time, duration_ms, status, tenant_id, "
    "retention_class, attributes"
)


class LocalStore:
    """The collector ``Store`` interface, read-only, over one local trace file."""

    local = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._jsonl: sqlite3.Connection | None = None
        self._jsonl_stamp: tuple[int, int] | None = None
        self.is_jsonl = False

    async def open(self) -> None:
        """Check the file is a readable peekr trace file.

        Raises:
            TraceFileError: missing, empty, corrupt or not a peekr file.
        """
        await anyio.to_thread.run_sync(self._check)

    def _check(self) -> None:
        traces = open_traces(self.path)
        self.is_jsonl = isinstance(traces, JSONLTraces)
        traces.close()

    async def close(self) -> None:
        """Drop the in-memory copy of a JSONL file."""
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None

    # -- reading --------------------------------------------------------------------------

    def _connection(self) -> tuple[sqlite3.Connection, bool]:
        """A connection to read from, and whether the caller must close it."""
        if not self.is_jsonl:
            db = connect_readonly(self.path, check_same_thread=False)
            db.row_factory = sqlite3.Row
            return db, True
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._jsonl is None or stamp != self._jsonl_stamp:
            if self._jsonl is not None:
                self._jsonl.close()
            self._jsonl, self._jsonl_stamp = _load_jsonl(self.path), stamp
        return self._jsonl, False

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            with self._lock:
                db, owned = self._connection()
                try:
                    return fn(db)
                finally:
                    if owned:
                        db.close()

        return await anyio.to_thread.run_sync(run)

    async def _read(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> list[sqlite3.Row]:
        return await self._run(lambda db: db.execute(sql, params).fetchall())

    # -- keys and ingest: not available locally ------------------------------------------

    async def create_key(self, key: ApiKey) -> None:
        """Keys do not exist locally."""
        raise NotImplementedError("a local trace file has no API keys")

    async def get_key(self, key_id: str) -> ApiKey | None:
        """No key is valid locally (the local UI needs none)."""
        return None

    async def revoke_key(self, key_id: str) -> bool:
        """Keys do not exist locally."""
        return False

    async def take_token(self, key: str, rate: float, burst: int) -> float:
        """Nothing is rate-limited locally (no key is asked)."""
        return 0.0

    async def list_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        """Keys do not exist locally."""
        return []

    async def ingest(
        self,
        tenant_id: str,
        spans: Sequence[Span],
        evals: Sequence[tuple[EvalResult, str]],
        feedback: Sequence[tuple[Feedback, str]],
    ) -> IngestCounts:
        """The local file is written by the app, not by the UI."""
        raise NotImplementedError("the local UI does not ingest")

    async def purge(self, retention_days: Mapping[str, float], now: datetime) -> int:
        """Pruning a local file is ``peekr prune``'s job."""
        return 0

    async def add_feedback(self, record: Feedback) -> Feedback:
        """Store a rating where ``peekr export-feedback`` reads it, with peekr's feedback code.

        Raises:
            ValueError: the trace is not in the file, or the file cannot be written.
        """

        def run() -> Feedback:
            with self._lock:
                if self.is_jsonl:
                    if not any(r for r in self._trace_ids(record.trace_id)):
                        raise ValueError(f"trace_id={record.trace_id!r} is not in {self.path}")
                    return append_feedback_jsonl(self.path, record)
                return write_feedback(self.path, record)

        return await anyio.to_thread.run_sync(run)

    def _trace_ids(self, trace_id: str) -> list[Any]:
        db, owned = self._connection()
        try:
            return db.execute("SELECT 1 FROM spans WHERE trace_id = ? LIMIT 1", (trace_id,)).fetchall()
        finally:
            if owned:
                db.close()

    async def resolve_trace_id(self, tenant_id: str, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` full trace ids starting with ``prefix`` (of ``?tenant=`` if given), sorted."""
        rows = await self._read(
            "SELECT DISTINCT trace_id FROM spans WHERE trace_id >= :lo AND trace_id < :hi"
            f"{_tenant('tenant_id', tenant_id)} ORDER BY trace_id LIMIT :limit",
            {"lo": prefix, "hi": prefix + "g", "tenant": tenant_id, "limit": limit},
        )
        return [r[0] for r in rows]

    # -- queries --------------------------------------------------------------------------

    async def list_traces(
        self, tenant_id: str, filt: TraceFilter, limit: int, cursor: tuple[str, str] | None
    ) -> TracePage:
        """Trace summaries, newest first (the collector's paging rule and text-search bound)."""
        clause, params = trace_filter_sql(filt, tenant_id or None, local=True)
        match = text_match_sql(filt, params)

        def run(db: sqlite3.Connection) -> TracePage:
            if (filt.min_score is not None or filt.max_score is not None) and "eval_results" not in _tables(db):
                return TracePage([])
            order, resume = page_trace_ids(clause, params, limit, cursor, db, match=match)
            if not order:
                return TracePage([], resume)
            marks = ",".join("?" * len(order))
            sql = f"""
                SELECT s.trace_id, MIN(s.start_time) AS start_time, MAX(s.end_time) AS end_time,
                       COUNT(*) AS span_count, SUM(s.status = 'error') AS error_count,
                       SUM(json_extract(s.attributes, '$.tokens_total')) AS tokens_total,
                       SUM(json_extract(s.attributes, '$.cost_usd')) AS cost_usd,
                       GROUP_CONCAT(DISTINCT json_extract(s.attributes, '$.model')) AS models,
                       (SELECT r.name FROM spans r WHERE r.trace_id = s.trace_id
                        ORDER BY r.parent_id IS NOT NULL, r.start_time LIMIT 1) AS root_name
                FROM spans s WHERE s.trace_id IN ({marks}) GROUP BY s.trace_id
            """
            rows = {r["trace_id"]: r for r in db.execute(sql, list(order)).fetchall()}
            found = [{**trace_summary(dict(rows[t])), "sort_key": k} for t, k in order.items() if t in rows]
            return TracePage(found, resume)

        return await self._run(run)

    async def get_trace(
        self, tenant_id: str, trace_id: str
    ) -> tuple[list[dict[str, Any]], list[EvalResult], list[dict[str, Any]]]:
        """Spans, eval results and feedback of one trace."""

        def run(db: sqlite3.Connection) -> tuple[list[Any], list[Any], list[Any]]:
            tables = _tables(db)
            spans = db.execute(
                f"SELECT {_SPAN_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY start_time, span_id", (trace_id,)
            ).fetchall()
            evals = (
                db.execute(
                    "SELECT span_id, trace_id, evaluator, status, scores, attributes, error, created_at, tenant_id "
                    "FROM eval_results WHERE trace_id = ? ORDER BY created_at, id",
                    (trace_id,),
                ).fetchall()
                if "eval_results" in tables
                else []
            )
            fb = (
                db.execute(
                    "SELECT id, trace_id, span_id, rating, score, note, created_at FROM feedback "
                    "WHERE trace_id = ? ORDER BY created_at, id",
                    (trace_id,),
                ).fetchall()
                if "feedback" in tables
                else []
            )
            return spans, evals, fb

        spans, evals, fb = await self._run(run)
        span_dicts = [{**dict(r), "attributes": _loads(r["attributes"])} for r in spans]
        results = [
            EvalResult.model_construct(
                **{**dict(r), "scores": _loads(r["scores"]), "attributes": _loads(r["attributes"])}
            )
            for r in evals
        ]
        return span_dicts, results, [feedback_row(dict(r)) for r in fb]

    async def aggregates(self, tenant_id: str, query: AggregateQuery) -> list[dict[str, Any]]:
        """One scan of the window: sums in SQL, percentiles in Python."""
        bucket = _BUCKETS[query.interval] if query.interval else "NULL"
        group = (
            "NULL" if not query.group_by else "name" if query.group_by == "name"
            else "tenant_id" if query.group_by == "tenant"
            else f"json_extract(attributes, '$.{query.group_by}')"
        )  # fmt: skip
        rows = await self._read(
            f"""
            SELECT {bucket} AS bucket, {group} AS grp, duration_ms, status = 'error' AS failed,
                   json_extract(attributes, '$.tokens_input') AS tokens_input,
                   json_extract(attributes, '$.tokens_output') AS tokens_output,
                   json_extract(attributes, '$.tokens_total') AS tokens_total,
                   json_extract(attributes, '$.cost_usd') AS cost_usd
            FROM spans WHERE start_time >= :since AND start_time < :until{_tenant("tenant_id", tenant_id)}
            ORDER BY duration_ms
            """,
            {"since": query.since, "until": query.until, "tenant": tenant_id},
        )
        keep = _top_groups(rows, query.top)
        grouped: dict[tuple[Any, Any], list[sqlite3.Row]] = {}
        for r in rows:
            grp = r["grp"] if keep is None or r["grp"] in keep else OTHER_GROUP
            grouped.setdefault((r["bucket"], grp), []).append(r)
        out: list[dict[str, Any]] = []
        for (bucket_value, grp), items in sorted(grouped.items(), key=lambda kv: _nulls_first(kv[0])):
            durations = [r["duration_ms"] for r in items]
            costs = [r["cost_usd"] for r in items if r["cost_usd"] is not None]
            totals = {
                "bucket": bucket_value,
                "grp": grp,
                "calls": len(items),
                "errors": sum(r["failed"] for r in items),
                "tokens_input": sum(r["tokens_input"] or 0 for r in items),
                "tokens_output": sum(r["tokens_output"] or 0 for r in items),
                "tokens_total": sum(r["tokens_total"] or 0 for r in items),
                "cost_usd": sum(costs) if costs else None,
                "avg_ms": sum(durations) / len(durations),
            }
            if keep is not None and grp == OTHER_GROUP:  # sums only, as the collector answers
                out.append(aggregate_row(totals, None, None, None))
                continue
            out.append(
                aggregate_row(
                    totals, percentile(durations, 0.5), percentile(durations, 0.95), percentile(durations, 0.99)
                )
            )
        return out

    async def score_histogram(
        self, tenant_id: str, metric: str, bins: int, since: str, until: str
    ) -> tuple[list[int], int, float | None]:
        """Latest score per span for ``metric``, binned over [0, 1]."""
        if "eval_results" not in await self._run(_tables):
            return [0] * bins, 0, None
        rows = await self._read(
            _LATEST_SCORES + "SELECT l.score FROM latest l JOIN spans s ON s.span_id = l.span_id "
            f"WHERE l.rn = 1 AND s.start_time >= :since AND s.start_time < :until{_tenant('s.tenant_id', tenant_id)}",
            {"metric": metric, "since": since, "until": until, "tenant": tenant_id},
        )
        return histogram([r[0] for r in rows], bins)

    async def experiment_spans(
        self, tenant_id: str, since: str, until: str, limit: int, experiment: str | None = None
    ) -> list[dict[str, Any]]:
        """Model-call spans of experiments, newest first, with the latest score of each evaluator."""
        params: dict[str, Any] = {"since": since, "until": until, "limit": limit, "tenant": tenant_id}
        only = ""
        if experiment is not None:
            only = " AND json_extract(s.attributes, '$.experiment') = :experiment"
            params["experiment"] = experiment
        sql = (
            "SELECT s.trace_id, s.span_id, s.status, s.duration_ms, s.attributes FROM spans s "
            "WHERE s.start_time >= :since AND s.start_time < :until "
            "AND json_extract(s.attributes, '$.experiment') IS NOT NULL "
            "AND json_extract(s.attributes, '$.model') IS NOT NULL"
            + only
            + _tenant("s.tenant_id", tenant_id)
            + " ORDER BY s.start_time DESC LIMIT :limit"
        )

        def run(db: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = [dict(r) for r in db.execute(sql, params).fetchall()]
            scores: dict[str, dict[str, Any]] = {}
            if rows and "eval_results" in _tables(db):
                ids = [r["span_id"] for r in rows]
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for r in db.execute(
                        f"SELECT span_id, scores FROM eval_results WHERE status = 'ok' AND span_id IN ({marks}) "
                        "ORDER BY created_at, id",
                        chunk,
                    ):  # later results overwrite earlier ones: the latest score counts
                        scores.setdefault(r["span_id"], {}).update(json.loads(r["scores"] or "{}"))
            return [experiment_span(r, scores.get(r["span_id"], {})) for r in rows]

        return await self._run(run)

    async def worst(self, tenant_id: str, metric: str, limit: int, since: str, until: str) -> list[dict[str, Any]]:
        """Worst spans first."""
        params = {"metric": metric, "since": since, "until": until, "limit": limit, "tenant": tenant_id}
        window = "s.start_time >= :since AND s.start_time < :until" + _tenant("s.tenant_id", tenant_id)
        if metric == "hallucination":
            if "eval_results" not in await self._run(_tables):
                return []
            sql = (
                _LATEST_SCORES + f"SELECT {_SPAN_SUMMARY}, l.score AS value FROM latest l JOIN spans s "
                f"ON s.span_id = l.span_id WHERE l.rn = 1 AND l.score IS NOT NULL "
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
        if "feedback" not in await self._run(_tables):
            return []
        where = ["1 = 1"]
        params: dict[str, Any] = {"limit": limit}
        if tenant_id:
            where.append("tenant_id = :tenant")
            params["tenant"] = tenant_id
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


def _top_groups(rows: Sequence[sqlite3.Row], top: int | None) -> set[Any] | None:
    """The ``top`` groups with the most spans (the collector's ranking), or None to keep every group."""
    calls: dict[Any, int] = {}
    for r in rows:
        calls[r["grp"]] = calls.get(r["grp"], 0) + 1
    return top_values(calls, top)


def _nulls_first(key: tuple[Any, Any]) -> tuple[bool, str, bool, str]:
    return (key[0] is not None, key[0] or "", key[1] is not None, str(key[1] or ""))


def _tenant(column: str, tenant_id: str) -> str:
    """The SQL condition for ``?tenant=`` (none when empty: every tenant of the file)."""
    return f" AND {column} = :tenant" if tenant_id else ""


def _tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {"_unreadable": text}


def _load_jsonl(path: Path) -> sqlite3.Connection:
    """An in-memory database with the local schema holding what ``path`` holds now."""
    try:
        traces = JSONLTraces(path)
    except TraceFileError:
        traces = None
    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    apply_migrations(db)
    db.row_factory = sqlite3.Row
    if traces is None:
        return db
    db.executemany(
        "INSERT OR IGNORE INTO spans (span_id, trace_id, parent_id, name, start_time, end_time, duration_ms, "
        "status, tenant_id, retention_class, attributes) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                s["span_id"], s["trace_id"], s["parent_id"], s["name"], s["start_time"], s["end_time"],
                s["duration_ms"], s["status"], s["tenant_id"], s["retention_class"],
                json.dumps(s["attributes"], default=str),
            )
            for s in traces.spans
        ],
    )  # fmt: skip
    # The reader merged eval results into the spans; keep each span's merged scores as one result
    # so the quality and worst-offender queries see them.
    db.executemany(
        "INSERT INTO eval_results (span_id, trace_id, evaluator, status, scores, attributes, created_at, tenant_id) "
        "VALUES (?, ?, 'merged', 'ok', ?, '{}', ?, ?)",
        [
            (s["span_id"], s["trace_id"], json.dumps(s["attributes"]["eval_scores"]), s["end_time"], s["tenant_id"])
            for s in traces.spans
            if isinstance(s["attributes"].get("eval_scores"), dict) and s["attributes"]["eval_scores"]
        ],
    )
    db.executemany(
        "INSERT INTO feedback (trace_id, span_id, rating, score, note, created_at, tenant_id) VALUES (?,?,?,?,?,?,?)",
        [
            (f["trace_id"], f.get("span_id"), f.get("rating"), f.get("score"), f.get("note"), f["created_at"],
             f.get("tenant_id"))
            for f in traces.all_feedback()
        ],
    )  # fmt: skip
    return db
