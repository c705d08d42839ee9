"""``SQLiteSink``: spans in ``traces.db`` (schema in ``_sqlite_schema.py``), via aiosqlite.

One transaction per batch (``BEGIN IMMEDIATE``; WAL; busy timeout), so several processes can
write the same file. Evaluation results are stored as records of their own and merged into
their span's ``attributes`` — when the span is already stored, at once; when the result came
first, as the span is inserted. Feedback goes to the ``feedback`` table.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from .._codec import SPAN_FIELDS as _SPAN_COLUMNS
from .._codec import dumps, ensure_encodable, repair_span
from .._events import EvalResult, Event, Feedback, merge_eval_result
from .._span import Span
from .._threads import run_sync
from ._sqlite_schema import WRITER_PRAGMAS, apply_migrations, configure_connection

__all__ = ["SQLiteSink", "open_database"]

# One row per span as a JSON array: the top-level fields, then the attributes as a JSON *string*
# (so SQLite copies it as text instead of parsing and re-serialising the object).
_INSERT_SPANS_JSON = (
    f"INSERT OR IGNORE INTO spans ({', '.join(_SPAN_COLUMNS)}) SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_SPAN_COLUMNS)))
    + " FROM json_each(?)"
)


def _rows_json(spans: list[Span]) -> str:
    """The batch as one JSON array of rows; a batch that fails to encode is retried span by span."""
    try:
        return dumps([_row(span) for span in spans]).decode()
    except Exception:  # one span holds a value JSON cannot hold: repair that span, keep the rest
        return "[" + ",".join(_row_json_safe(span) for span in spans) + "]"


def _row(span: Span) -> list[Any]:
    return [getattr(span, name) if name != "attributes" else dumps(span.attributes).decode() for name in _SPAN_COLUMNS]


def _row_json_safe(span: Span) -> str:
    try:
        return dumps(_row(span)).decode()
    except Exception:
        repair_span(span)
        return dumps(_row(span)).decode()


_INSERT_EVAL = (
    "INSERT INTO eval_results (span_id, trace_id, evaluator, status, scores, attributes, error, created_at,"
    " tenant_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_FEEDBACK = (
    "INSERT INTO feedback (trace_id, span_id, rating, score, note, created_at, tenant_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def open_database(path: str, busy_timeout_ms: int = 10_000) -> sqlite3.Connection:
    """Open (creating and migrating if needed) a traces database with a plain sqlite3 connection."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    configure_connection(db, busy_timeout_ms)
    apply_migrations(db)
    return db


def _migrate(path: str, busy_timeout_ms: int) -> None:
    open_database(path, busy_timeout_ms).close()


def _result_from_row(row: sqlite3.Row | tuple[Any, ...]) -> EvalResult:
    span_id, trace_id, evaluator, status, scores, attributes, error, created_at = row
    return EvalResult.model_construct(
        span_id=span_id,
        trace_id=trace_id,
        evaluator=evaluator,
        status=status,
        scores=json.loads(scores),
        attributes=json.loads(attributes),
        error=error,
        created_at=created_at,
    )


class SQLiteSink:
    """Store events in a SQLite file.

    Example:
        >>> peekr.instrument(storage="sqlite", path="traces.db")  # uses this sink

    Args:
        path: The database file (created and migrated if missing).
        busy_timeout: Seconds to wait for another process's write lock.
    """

    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str] = "traces.db", *, busy_timeout: float = 10.0) -> None:
        self.path = os.fspath(path)
        if not self.path:
            raise ValueError("SQLiteSink needs a file path, got an empty string")
        if busy_timeout <= 0:
            raise ValueError(f"busy_timeout must be positive seconds, got {busy_timeout!r}")
        self.busy_timeout_ms = int(busy_timeout * 1000)
        self._db: Any = None
        self._pid = 0
        # Results may reach this sink before their span; once this process has stored any,
        # every span batch also looks for results to merge (see ``_merge_earlier_results``).
        self._seen_results = False

    async def _connect(self) -> Any:
        if self._db is not None and self._pid == os.getpid():
            return self._db
        import aiosqlite

        # Migrate with a short-lived plain connection, then keep an aiosqlite one.
        await run_sync(_migrate, self.path, self.busy_timeout_ms)
        connection = aiosqlite.connect(self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000)
        # aiosqlite's worker thread is non-daemon; the interpreter joins those *before* atexit
        # handlers run, and peekr's atexit handler is what closes this connection.
        thread = getattr(connection, "_thread", None)
        if thread is not None:
            thread.daemon = True
        db = await connection
        await db.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        for pragma in WRITER_PRAGMAS:
            await db.execute(pragma)
        self._db, self._pid = db, os.getpid()
        return db

    async def open(self) -> None:
        """Create/migrate the file and start the connection's thread (the bus calls this at start)."""
        await self._connect()

    async def write(self, batch: Sequence[Event]) -> None:
        """Store a batch in one transaction.

        The common case — spans only — is a single ``INSERT … SELECT … FROM json_each(?)``
        statement: one transaction, one hop to the connection's thread, and one release of the GIL
        for the whole batch. (``executemany`` releases and re-takes the GIL for every row, which
        next to a busy application thread costs milliseconds per row.)
        """
        spans: list[Span] = []
        results: list[EvalResult] = []
        feedback: list[Feedback] = []
        for event in batch:
            if isinstance(event, Span):
                spans.append(event)
            elif isinstance(event, EvalResult):
                results.append(event)
            elif isinstance(event, Feedback):
                feedback.append(event)
        records: list[Event] = [*results, *feedback]
        for record in records:  # rare, checked one by one: a bad value must not roll back the batch
            ensure_encodable(record)
        db = await self._connect()
        payload = _rows_json(spans) if spans else None
        if payload is not None and not results and not feedback and not self._seen_results:
            await db.execute(_INSERT_SPANS_JSON, (payload,))  # autocommit: its own transaction
            return
        await db.execute("BEGIN IMMEDIATE")
        try:
            if payload is not None:
                await db.execute(_INSERT_SPANS_JSON, (payload,))
                await self._merge_earlier_results(db, [span.span_id for span in spans])
            for result in results:
                await self._store_result(db, result)
            if feedback:
                await db.executemany(
                    _INSERT_FEEDBACK,
                    [(f.trace_id, f.span_id, f.rating, f.score, f.note, f.created_at, f.tenant_id) for f in feedback],
                )
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        if results:
            self._seen_results = True

    async def _merge_earlier_results(self, db: Any, span_ids: list[str]) -> None:
        async with db.execute("SELECT EXISTS (SELECT 1 FROM eval_results)") as cursor:
            row = await cursor.fetchone()
        if not row or not row[0]:
            return
        found: dict[str, list[EvalResult]] = {}
        for start in range(0, len(span_ids), 500):
            chunk = span_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = (
                "SELECT span_id, trace_id, evaluator, status, scores, attributes, error, created_at"
                f" FROM eval_results WHERE span_id IN ({marks}) ORDER BY id"
            )
            async with db.execute(query, chunk) as cursor:
                for result_row in await cursor.fetchall():
                    result = _result_from_row(result_row)
                    found.setdefault(result.span_id, []).append(result)
        for span_id, span_results in found.items():
            await self._apply(db, span_id, span_results)

    async def _store_result(self, db: Any, result: EvalResult) -> None:
        await db.execute(
            _INSERT_EVAL,
            (
                result.span_id,
                result.trace_id,
                result.evaluator,
                result.status,
                dumps(result.scores).decode(),
                dumps(result.attributes).decode(),
                result.error,
                result.created_at,
                result.tenant_id,
            ),
        )
        await self._apply(db, result.span_id, [result])

    async def _apply(self, db: Any, span_id: str, results: list[EvalResult]) -> None:
        async with db.execute("SELECT attributes FROM spans WHERE span_id = ?", (span_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return  # the span comes later; merged on insert
        attributes = json.loads(row[0])
        for result in results:
            merge_eval_result(attributes, result)
        await db.execute("UPDATE spans SET attributes = ? WHERE span_id = ?", (dumps(attributes).decode(), span_id))

    async def flush(self, timeout: float | None = None) -> None:
        """Every batch is committed when ``write`` returns; nothing to do."""

    async def aclose(self) -> None:
        """Close the connection."""
        db, self._db = self._db, None
        if db is not None and self._pid == os.getpid():
            await db.close()
