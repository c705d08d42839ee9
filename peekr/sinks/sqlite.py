"""``SQLiteSink``: spans in ``traces.db`` (schema in ``_sqlite_schema.py``), via aiosqlite.

One transaction per batch (``BEGIN IMMEDIATE``; WAL; busy timeout), so several processes can
write the same file. Evaluation results are stored as records of their own and merged into
their span's ``attributes`` — when the span is already stored, at once; when the result came
first, as the span is inserted. Feedback goes to the ``feedback`` table.
"""

from __future__ import annotations

import functools
import json
import operator
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from pydantic_core import to_json

from .._codec import SPAN_FIELDS as _SPAN_COLUMNS
from .._codec import dumps, ensure_encodable, repair_span
from .._events import EvalResult, Event, Feedback, merge_eval_result
from .._span import Span
from .._threads import run_sync
from ._sqlite_schema import WRITER_PRAGMAS, apply_migrations, configure_connection

__all__ = ["SQLiteSink", "open_database"]

# The span rows of a batch go in one statement, so the connection's thread releases the GIL once
# per batch (``executemany`` releases and re-takes it for every row, which next to a busy
# application thread costs milliseconds per row). The rows are bound as parameters of a
# multi-row ``VALUES``: SQLite's JSON functions cost ~6 µs a row to take a JSON batch apart,
# binding ~1.5 µs. Row counts are rounded up to a few sizes (padded with copies of the last
# row, which ``OR IGNORE`` skips), so each size is compiled once and then reused from the
# connection's statement cache.
_COLUMNS = ", ".join(_SPAN_COLUMNS)
#: The columns of the fast path's rows, in the order ``_row_params`` binds them: the two that may be
#: NULL last but one. A ``None`` parameter costs the sqlite3 module its adapter look-up (~3,000
#: instructions, a formatted and cleared AttributeError included); an int costs almost nothing, so
#: those two columns bind ``0`` for ``None`` and the statement turns it back into NULL (``nullif``).
#: ``_row_params`` only ever binds a ``str`` or that ``0`` there, so no stored value can change.
_NULLABLE = ("parent_id", "tenant_id")
_ROW_COLUMNS = (*(c for c in _SPAN_COLUMNS[:-1] if c not in _NULLABLE), *_NULLABLE, "attributes")
assert sorted(_ROW_COLUMNS) == sorted(_SPAN_COLUMNS) and _SPAN_COLUMNS[-1] == "attributes"
_ROW_MARKS = "(" + ", ".join(["?"] * (len(_ROW_COLUMNS) - 3) + ["nullif(?, 0)"] * 2 + ["?"]) + ")"
#: Rows per statement at most (``_max_rows`` lowers it for builds with a small variable limit).
MAX_ROWS = 1024  # a cached statement keeps its last rows bound: 32 sizes at most, of ≤ ~1 MiB each
_STEP = 64
_FINE_STEP = 16  # below _FINE_UP_TO rows (a light load's batches): less padding, each row costs ~14k instructions
_FINE_UP_TO = 256


def _padded(n: int) -> int:
    """The statement size used for ``n`` rows: a power of two up to 16, multiples of 16 up to 256, then of 64."""
    if n > _FINE_UP_TO:
        return -(-n // _STEP) * _STEP
    if n > _FINE_STEP:
        return -(-n // _FINE_STEP) * _FINE_STEP
    size = 1
    while size < n:
        size *= 2
    return size


@functools.lru_cache(maxsize=64)
def _insert_rows_sql(rows: int) -> str:
    return f"INSERT OR IGNORE INTO spans ({', '.join(_ROW_COLUMNS)}) VALUES " + ", ".join([_ROW_MARKS] * rows)


def _max_rows(db: sqlite3.Connection) -> int:
    """Rows per statement this SQLite build can bind (999 variables before 3.32)."""
    getlimit = getattr(db, "getlimit", None)  # Python 3.11+
    limit = getlimit(getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", 9)) if getlimit is not None else 999
    rows = min(MAX_ROWS, limit // len(_SPAN_COLUMNS))
    return rows - rows % _STEP if rows >= _STEP else max(1, rows)


#: A span's columns that are never NULL, but ``attributes``, read from its ``__dict__`` in one C call.
_plain_columns = operator.itemgetter(*_ROW_COLUMNS[: -1 - len(_NULLABLE)])
_last_columns = operator.itemgetter(*_NULLABLE, "attributes")


class _NotText(TypeError):
    """A nullable column holds neither ``str`` nor None: the batch takes the JSON path."""


def _row_params(spans: list[Span], size: int) -> list[Any]:
    """The parameters of ``_insert_rows_sql(size)``: each span's columns, attributes as JSON text."""
    params: list[Any] = []
    extend, append = params.extend, params.append
    for span in spans:
        values = span.__dict__  # a pydantic model keeps its fields there
        extend(_plain_columns(values))
        parent_id, tenant_id, attributes = _last_columns(values)
        if parent_id is None:
            parent_id = 0
        elif type(parent_id) is not str:
            raise _NotText("parent_id")
        if tenant_id is None:
            tenant_id = 0
        elif type(tenant_id) is not str:
            raise _NotText("tenant_id")
        append(parent_id)
        append(tenant_id)
        append(to_json(attributes, fallback=str, inf_nan_mode="null").decode())  # ``dumps``, without its frame
    if size > len(spans):
        params += params[-len(_ROW_COLUMNS) :] * (size - len(spans))
    return params


#: What binding a value SQLite cannot hold raises (a list, a huge int, a lone surrogate...).
_BIND_ERRORS = (sqlite3.InterfaceError, sqlite3.ProgrammingError, OverflowError, UnicodeError)

# The slow path, for a batch with a value that cannot be bound as it is: each row as a JSON
# array, the attributes as a JSON *string* (copied as text, not re-parsed), values JSON cannot
# hold repaired first — exactly what the JSONL sink and the exporter store.
_INSERT_SPANS_JSON = (
    f"INSERT OR IGNORE INTO spans ({_COLUMNS}) SELECT "
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


def _migrate(path: str, busy_timeout_ms: int) -> int:
    db = open_database(path, busy_timeout_ms)
    try:
        return _max_rows(db)
    finally:
        db.close()


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
    #: Under load the bus joins the batches already waiting for this sink, up to this many events:
    #: each transaction writes every B-tree page it touched to the WAL once, so with random span
    #: and trace ids 4,096 spans per commit cost about half the CPU per span of 1,024.
    merge_batches_up_to = 8192

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
        self._max_rows = MAX_ROWS

    async def _connect(self) -> Any:
        if self._db is not None and self._pid == os.getpid():
            return self._db
        import aiosqlite

        # Migrate with a short-lived plain connection, then keep an aiosqlite one.
        self._max_rows = await run_sync(_migrate, self.path, self.busy_timeout_ms)
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

        The common case — spans only, up to ``MAX_ROWS`` of them — is a single multi-row
        ``INSERT``: one transaction, one hop to the connection's thread, and one release of the
        GIL for the whole batch.
        """
        spans: list[Span] = [event for event in batch if type(event) is Span]
        results: list[EvalResult] = []
        feedback: list[Feedback] = []
        if len(spans) != len(batch):  # results or feedback too (rare): sort the batch one event at a time
            spans = []
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
        statements = self._span_statements(spans) if spans else []
        if len(statements) == 1 and not results and not feedback and not self._seen_results:
            await self._insert_spans(db, spans, statements)  # autocommit: its own transaction
            return
        await db.execute("BEGIN IMMEDIATE")
        try:
            if spans:
                await self._insert_spans(db, spans, statements)
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

    def _span_statements(self, spans: list[Span]) -> list[tuple[str, list[Any]]]:
        """The batch's span rows as multi-row ``INSERT`` statements; ``[]`` if a value cannot be encoded."""
        step = self._max_rows
        try:
            statements = []
            for start in range(0, len(spans), step):
                chunk = spans[start : start + step]
                size = min(_padded(len(chunk)), step)
                statements.append((_insert_rows_sql(size), _row_params(chunk, size)))
        except Exception:  # attributes JSON cannot hold: the JSON path repairs them
            return []
        return statements

    async def _insert_spans(self, db: Any, spans: list[Span], statements: list[tuple[str, list[Any]]]) -> None:
        """Run ``statements``; if a value cannot be bound, store the batch through the JSON path instead."""
        try:
            if statements:
                for sql, params in statements:
                    await db.execute(sql, params)
                return
        except _BIND_ERRORS:
            pass  # rows already inserted by an earlier statement are skipped by OR IGNORE
        await db.execute(_INSERT_SPANS_JSON, (_rows_json(spans),))

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
