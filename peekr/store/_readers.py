"""Read stored spans uniformly from ``traces.jsonl`` or ``traces.db``.

Both readers return spans as plain dicts shaped like the span JSON (DESIGN.md), newest first,
with evaluation results merged into ``attributes`` by :func:`peekr._events.merge_eval_result`
(the same rule the sinks use). Bad files raise :class:`TraceFileError` with a one-line message
that names the file and what is wrong with it; malformed lines inside a JSONL file are skipped
and reported once (see :func:`open_traces`).

Example:
    >>> with open_traces("traces.db") as store:
    ...     page = store.query(SpanFilter(status="error"), limit=20)
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._codec import SPAN_FIELDS as _SPAN_COLUMNS
from .._events import EvalResult, Feedback, merge_eval_result
from .._span import Span

__all__ = [
    "JSONLTraces",
    "Page",
    "SQLiteTraces",
    "SpanFilter",
    "TraceFileError",
    "Traces",
    "connect_readonly",
    "open_traces",
]

SpanDict = dict[str, Any]
_log = logging.getLogger("peekr")
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: Filters on span attributes: SpanFilter field -> attribute key.
_ATTRIBUTE_FILTERS = {"session_id": "session_id", "user_id": "user_id"}


class TraceFileError(ValueError):
    """A trace file is missing, empty, corrupt or not a peekr file; the message is one line."""


@dataclass(frozen=True)
class SpanFilter:
    """Which spans to select; every field left as ``None`` matches everything.

    ``name`` and ``model`` match exactly, or as a shell glob when they contain ``*``/``?``;
    ``name`` also matches as a prefix (``openai.chat`` selects ``openai.chat.completions``).
    ``trace_id`` matches a full id or a prefix of one. ``since`` is an ISO-8601 UTC time.
    """

    trace_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    tenant_id: str | None = None
    model: str | None = None
    status: str | None = None
    since: str | None = None
    name: str | None = None

    def matches(self, span: SpanDict) -> bool:
        """Return whether ``span`` passes every filter (the JSONL reader's path)."""
        attrs = span.get("attributes") or {}
        if self.trace_id is not None and not str(span.get("trace_id", "")).startswith(self.trace_id):
            return False
        if self.tenant_id is not None and span.get("tenant_id") != self.tenant_id:
            return False
        if self.status is not None and span.get("status") != self.status:
            return False
        if self.since is not None and str(span.get("start_time", "")) < self.since:
            return False
        for fname, key in _ATTRIBUTE_FILTERS.items():
            wanted = getattr(self, fname)
            if wanted is not None and attrs.get(key) != wanted:
                return False
        if self.model is not None and not _glob_match(attrs.get("model"), self.model, prefix=False):
            return False
        return self.name is None or _glob_match(span.get("name"), self.name, prefix=True)


@dataclass
class Page:
    """One page of spans, newest first, and how many spans matched in all."""

    spans: list[SpanDict]
    total: int
    offset: int = 0
    feedback: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class _Traces:
    path: Path

    def __enter__(self) -> _Traces:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file."""

    def query(self, flt: SpanFilter, *, limit: int | None = 50, offset: int = 0) -> Page:
        """Return matching spans, newest first."""
        raise NotImplementedError

    def trace(self, trace_id: str) -> list[SpanDict]:
        """Return every span of one trace, oldest first."""
        raise NotImplementedError

    def feedback(self, trace_id: str) -> list[dict[str, Any]]:
        """Return the feedback records of one trace, oldest first."""
        raise NotImplementedError

    def all_feedback(self) -> list[dict[str, Any]]:
        """Return every feedback record, oldest first."""
        raise NotImplementedError

    def resolve_trace_id(self, trace_id: str) -> str | None:
        """Return the full trace id for an id or a unique prefix, ``None`` when unknown.

        Raises:
            TraceFileError: The prefix matches several traces.
        """
        raise NotImplementedError

    def recent_trace_ids(self, n: int = 5) -> list[str]:
        """Return the ids of the ``n`` most recent traces."""
        page = self.query(SpanFilter(), limit=200)
        seen: list[str] = []
        for span in page.spans:
            if span["trace_id"] not in seen:
                seen.append(span["trace_id"])
            if len(seen) >= n:
                break
        return seen


class SQLiteTraces(_Traces):
    """Spans from a ``traces.db`` written by the SQLite sink (opened read-only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.db = connect_readonly(path)
            tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise TraceFileError(f"{path}: not a readable SQLite database ({exc})") from None
        if "spans" not in tables:
            self.db.close()
            if not tables:
                raise TraceFileError(f"{path}: empty database (no spans recorded yet)")
            raise TraceFileError(f"{path}: not a peekr traces database (it has no 'spans' table)")
        self._has_evals = "eval_results" in tables
        self._has_feedback = "feedback" in tables
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def _where(self, flt: SpanFilter) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if flt.trace_id is not None:
            if len(flt.trace_id) == 32:
                clauses.append("trace_id = ?")
                params.append(flt.trace_id)
            else:
                clauses.append("trace_id >= ? AND trace_id < ?")
                params += [flt.trace_id, flt.trace_id + "g"]
        for column in ("tenant_id", "status"):
            value = getattr(flt, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if flt.since is not None:
            clauses.append("start_time >= ?")
            params.append(flt.since)
        for fname, key in _ATTRIBUTE_FILTERS.items():
            value = getattr(flt, fname)
            if value is not None:
                clauses.append(f"json_extract(attributes, '$.{key}') = ?")
                params.append(value)
        if flt.model is not None:
            clauses.append(_glob_sql("json_extract(attributes, '$.model')", flt.model, prefix=False, params=params))
        if flt.name is not None:
            clauses.append(_glob_sql("name", flt.name, prefix=True, params=params))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def query(self, flt: SpanFilter, *, limit: int | None = 50, offset: int = 0) -> Page:
        """Return matching spans, newest first, with the total number that matched."""
        where, params = self._where(flt)
        try:
            total = self.db.execute(f"SELECT COUNT(*) FROM spans{where}", params).fetchone()[0]
            sql = f"SELECT {', '.join(_SPAN_COLUMNS)} FROM spans{where} ORDER BY start_time DESC, span_id DESC"
            if limit is not None:
                sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
            spans = [self._row(row) for row in self.db.execute(sql, params)]
        except sqlite3.DatabaseError as exc:
            raise TraceFileError(f"{self.path}: corrupt or unreadable database ({exc})") from None
        self._merge_evals(spans)
        return Page(spans=spans, total=total, offset=offset)

    def count(self) -> int:
        """Return how many spans the file holds."""
        try:
            return int(self.db.execute("SELECT COUNT(*) FROM spans").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise TraceFileError(f"{self.path}: corrupt or unreadable database ({exc})") from None

    def trace(self, trace_id: str) -> list[SpanDict]:
        """Return every span of one trace, oldest first."""
        rows = self.db.execute(
            f"SELECT {', '.join(_SPAN_COLUMNS)} FROM spans WHERE trace_id = ? ORDER BY start_time, span_id",
            (trace_id,),
        )
        spans = [self._row(row) for row in rows]
        self._merge_evals(spans)
        return spans

    def feedback(self, trace_id: str) -> list[dict[str, Any]]:
        """Return the feedback records of one trace, oldest first."""
        if not self._has_feedback:
            return []
        rows = self.db.execute(
            "SELECT trace_id, span_id, rating, score, note, created_at, tenant_id FROM feedback "
            "WHERE trace_id = ? ORDER BY created_at, id",
            (trace_id,),
        )
        return [dict(row) for row in rows]

    def all_feedback(self) -> list[dict[str, Any]]:
        """Return every feedback record, oldest first."""
        if not self._has_feedback:
            return []
        rows = self.db.execute(
            "SELECT trace_id, span_id, rating, score, note, created_at, tenant_id FROM feedback ORDER BY created_at, id"
        )
        return [dict(row) for row in rows]

    def resolve_trace_id(self, trace_id: str) -> str | None:
        """Return the full trace id for an id or a unique prefix, ``None`` when unknown."""
        trace_id = trace_id.lower()
        rows = self.db.execute(
            "SELECT DISTINCT trace_id FROM spans WHERE trace_id >= ? AND trace_id < ? LIMIT 2",
            (trace_id, trace_id + "g"),
        ).fetchall()
        return _unique(self.path, trace_id, [row[0] for row in rows])

    def _row(self, row: sqlite3.Row) -> SpanDict:
        span = {key: row[key] for key in _SPAN_COLUMNS}
        try:
            span["attributes"] = json.loads(row["attributes"] or "{}")
        except ValueError:
            span["attributes"] = {"_unreadable_attributes": row["attributes"]}
        return span

    def _merge_evals(self, spans: list[SpanDict]) -> None:
        # The sink merges results into attributes itself; merging again is idempotent and covers a
        # result stored by another process after the span row was written.
        if not self._has_evals or not spans:
            return
        by_id = {span["span_id"]: span for span in spans}
        ids = list(by_id)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.db.execute(
                "SELECT span_id, trace_id, evaluator, status, scores, attributes, error, created_at, tenant_id "
                f"FROM eval_results WHERE span_id IN ({', '.join('?' * len(chunk))}) ORDER BY created_at, id",
                chunk,
            )
            for row in rows:
                try:
                    result = EvalResult(
                        span_id=row["span_id"],
                        trace_id=row["trace_id"],
                        evaluator=row["evaluator"],
                        status=row["status"],
                        scores=json.loads(row["scores"] or "{}"),
                        attributes=json.loads(row["attributes"] or "{}"),
                        error=row["error"],
                        created_at=row["created_at"],
                        tenant_id=row["tenant_id"],
                    )
                except (ValueError, ValidationError):
                    continue
                merge_eval_result(by_id[row["span_id"]]["attributes"], result)


class JSONLTraces(_Traces):
    """Spans from a ``traces.jsonl`` written by the JSONL sink (read fully into memory)."""

    def __init__(self, path: Path, progress: Callable[[float], None] | None = None) -> None:
        self.path = path
        self.spans: list[SpanDict] = []
        self._feedback: list[dict[str, Any]] = []
        #: ``(line number, what is wrong)`` of each malformed line that was skipped.
        self.skipped: list[tuple[int, str]] = []
        evals: list[EvalResult] = []
        for lineno, obj, last in _json_lines(path, progress, self.skipped):
            record = obj.get("record")
            try:
                if record == "eval":
                    evals.append(EvalResult.model_validate(obj))
                elif record == "feedback":
                    self._feedback.append(Feedback.model_validate(obj).model_dump(exclude={"record"}))
                elif record is None:
                    self.spans.append(Span.model_validate(obj).model_dump())
                # Unknown record kinds come from newer peekr versions: skip them.
            except ValidationError as exc:
                if last:
                    continue
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "record"
                self.skipped.append((lineno, f"not a peekr record ({where}: {first['msg']})"))
        if not self.spans:
            if self.skipped:  # nothing readable at all: most likely not a peekr file
                lineno, problem = self.skipped[0]
                raise TraceFileError(f"{path}:{lineno}: {problem}; is this a peekr traces file?")
            raise TraceFileError(f"{path}: no spans in this file")
        by_id = {span["span_id"]: span for span in self.spans}
        for result in sorted(evals, key=lambda r: r.created_at):
            if result.span_id in by_id:
                merge_eval_result(by_id[result.span_id]["attributes"], result)
        self.spans.sort(key=lambda s: (s["start_time"], s["span_id"]), reverse=True)

    @property
    def warning(self) -> str | None:
        """One line saying which malformed lines were skipped, or ``None`` when none were."""
        if not self.skipped:
            return None
        lineno, problem = self.skipped[0]
        first = "line" if len(self.skipped) == 1 else "first at line"
        return f"{self.path}: skipped {_plural(len(self.skipped), 'malformed line')} ({first} {lineno}: {problem})"

    def query(self, flt: SpanFilter, *, limit: int | None = 50, offset: int = 0) -> Page:
        """Return matching spans, newest first, with the total number that matched."""
        matched = [span for span in self.spans if flt.matches(span)]
        end = None if limit is None else offset + limit
        return Page(spans=matched[offset:end], total=len(matched), offset=offset)

    def count(self) -> int:
        """Return how many spans the file holds."""
        return len(self.spans)

    def trace(self, trace_id: str) -> list[SpanDict]:
        """Return every span of one trace, oldest first."""
        return sorted(
            (s for s in self.spans if s["trace_id"] == trace_id), key=lambda s: (s["start_time"], s["span_id"])
        )

    def feedback(self, trace_id: str) -> list[dict[str, Any]]:
        """Return the feedback records of one trace, oldest first."""
        return sorted((f for f in self._feedback if f["trace_id"] == trace_id), key=lambda f: f["created_at"])

    def all_feedback(self) -> list[dict[str, Any]]:
        """Return every feedback record, oldest first."""
        return sorted(self._feedback, key=lambda f: f["created_at"])

    def resolve_trace_id(self, trace_id: str) -> str | None:
        """Return the full trace id for an id or a unique prefix, ``None`` when unknown."""
        trace_id = trace_id.lower()
        ids = sorted({s["trace_id"] for s in self.spans if s["trace_id"].startswith(trace_id)})
        return _unique(self.path, trace_id, ids[:2])


Traces = SQLiteTraces | JSONLTraces


def open_traces(
    path: str | Path,
    progress: Callable[[float], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Traces:
    """Open ``traces.db`` or ``traces.jsonl`` (chosen by content, then by suffix).

    ``progress`` is called with the fraction read so far while a JSONL file is loaded. Malformed
    JSONL lines are skipped and reported once, as one line, to ``warn`` (default: a warning on
    the ``peekr`` logger).

    Raises:
        TraceFileError: The file is missing, empty, corrupt or not a peekr file.
    """
    path = Path(path)
    if not path.exists():
        raise TraceFileError(f"{path}: no such file")
    if path.is_dir():
        raise TraceFileError(f"{path}: is a directory, expected traces.db or traces.jsonl")
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise TraceFileError(f"{path}: cannot read ({exc.strerror})") from None
    if not head:
        raise TraceFileError(f"{path}: empty file (no spans recorded yet)")
    if head == _SQLITE_MAGIC:
        return SQLiteTraces(path)
    if path.suffix.lower() in (".db", ".sqlite", ".sqlite3"):
        raise TraceFileError(f"{path}: not a SQLite database (corrupt, or not written by peekr)")
    store = JSONLTraces(path, progress)
    if store.warning is not None:
        (warn or _log.warning)(store.warning)
    return store


def _json_lines(
    path: Path, progress: Callable[[float], None] | None, skipped: list[tuple[int, str]]
) -> Iterator[tuple[int, dict[str, Any], bool]]:
    """Yield (line number, object, is-unterminated-last-line) for each non-blank line.

    A line that is not a JSON object is appended to ``skipped`` (line number, problem) instead;
    an unterminated last line that does not parse (a writer killed mid-line) is dropped silently.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TraceFileError(f"{path}: cannot read ({exc.strerror})") from None
    lines = data.split(b"\n")
    unterminated = not data.endswith(b"\n")
    for index, raw in enumerate(lines):
        if progress is not None and index % 20_000 == 0:
            progress(index / len(lines))
        if not raw.strip():
            continue
        last = unterminated and index == len(lines) - 1
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            if not last:  # a cut-off last line is a killed writer, not a malformed file
                skipped.append((index + 1, f"not valid JSON ({str(exc).split(':')[0]})"))
            continue
        if not isinstance(obj, dict):
            skipped.append((index + 1, f"expected a JSON object per line, got {type(obj).__name__}"))
            continue
        yield index + 1, obj, last


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def connect_readonly(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open a SQLite file for reading only, leaving no ``-wal``/``-shm`` files behind.

    A ``mode=ro`` connection to a WAL database creates ``-wal``/``-shm`` files that it cannot
    remove when it closes. So:

    * a ``-wal`` file exists (a writer has the database open, or crashed): ``mode=ro``, which
      reads what the live writer committed and adds no file;
    * else, when we may write the file and its folder: read-write with ``PRAGMA query_only``
      (every write is refused), and SQLite removes the files it created when it closes;
    * else (no write permission), a WAL database is opened ``immutable``: with no ``-wal``
      nobody has it open, and a read-only user must not leave files the owner's writer would
      then trip over; any other database ``mode=ro``.

    Raises:
        sqlite3.Error: The file cannot be opened or is not a database.
    """
    uri = path.resolve().as_uri()
    if Path(f"{path}-wal").exists():
        query = "mode=ro"
    elif os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK):
        query = "mode=rw"
    else:
        query = "mode=ro&immutable=1" if _is_wal(path) else "mode=ro"
    db = sqlite3.connect(f"{uri}?{query}", uri=True, check_same_thread=check_same_thread)
    if query == "mode=rw":
        db.execute("PRAGMA query_only = ON")
    db.execute("PRAGMA busy_timeout = 10000")
    return db


def _is_wal(path: Path) -> bool:
    """Whether the database header says WAL mode (file format versions at bytes 18-19 are 2)."""
    try:
        with path.open("rb") as fh:
            return fh.read(20)[18:20] == b"\x02\x02"
    except OSError:
        return False


def _unique(path: Path, trace_id: str, ids: list[str]) -> str | None:
    if not ids:
        return None
    if len(ids) > 1:
        raise TraceFileError(f"{path}: trace id prefix {trace_id!r} matches several traces; give more characters")
    return ids[0]


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _glob_match(value: object, pattern: str, *, prefix: bool) -> bool:
    if not isinstance(value, str):
        return False
    if _is_glob(pattern):
        return fnmatch.fnmatchcase(value, pattern)
    return value == pattern or (prefix and value.startswith(pattern))


def _glob_sql(expr: str, pattern: str, *, prefix: bool, params: list[Any]) -> str:
    if _is_glob(pattern):
        params.append(pattern)
        return f"{expr} GLOB ?"
    if prefix:  # no glob characters in pattern, so it is a literal prefix
        params += [pattern, pattern + "*"]
        return f"({expr} = ? OR {expr} GLOB ?)"
    params.append(pattern)
    return f"{expr} = ?"
