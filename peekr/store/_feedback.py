"""Human feedback on a trace: ``peekr.feedback(trace_id, rating="good")``.

Feedback is a record of its own, keyed by trace id (DESIGN.md); several ratings per trace are
kept and the latest counts for export. Where it goes:

* ``db_path=...`` given: written straight into that ``traces.db``.
* peekr is running: published on the bus as a :class:`~peekr._events.Feedback` event, so the
  configured storage keeps it (SQLite table, JSONL record line, HTTP exporter). With SQLite
  storage the trace must exist there (pending spans are flushed first).
* peekr is not running: written into ``./traces.db`` when that file exists.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from .._events import Feedback
from .._span import iso_utc
from ..sinks._sqlite_schema import apply_migrations, configure_connection
from ._readers import connect_readonly

__all__ = [
    "DEFAULT_DB_PATH",
    "append_feedback_jsonl",
    "feedback",
    "make_feedback",
    "validate_feedback",
    "write_feedback",
]

#: Where ``feedback()`` looks when peekr is not running and no ``db_path`` is given.
DEFAULT_DB_PATH = Path("traces.db")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_RATINGS = ("good", "bad")


def validate_feedback(trace_id: object, rating: object, note: object, score: object) -> None:
    """Raise ``ValueError``/``TypeError`` naming the first bad argument of :func:`feedback`."""
    if not isinstance(trace_id, str) or not _TRACE_ID.match(trace_id):
        raise ValueError(f"trace_id={trace_id!r} is not a trace id; expected 32 lowercase hex characters")
    if rating is not None and rating not in _RATINGS:
        raise ValueError(f"rating={rating!r} is not a rating; expected 'good', 'bad' or None")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise TypeError(f"score={score!r} must be a number in [0, 1] or None")
        if not 0.0 <= float(score) <= 1.0:
            raise ValueError(f"score={score!r} is out of range; expected a number in [0, 1]")
    if rating is None and score is None:
        raise ValueError("feedback needs a rating ('good' or 'bad') or a score in [0, 1]; got neither")
    if note is not None and not isinstance(note, str):
        raise TypeError(f"note must be a string or None, got {type(note).__name__}")


def feedback(
    trace_id: str,
    rating: str | None = "good",
    note: str | None = None,
    score: float | None = None,
    *,
    db_path: str | Path | None = None,
) -> Feedback:
    """Record a human rating of a trace.

    Example:
        >>> peekr.feedback(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", rating="bad", note="made up the price")

    Args:
        trace_id: The trace's 32-hex-character id.
        rating: ``"good"``, ``"bad"`` or ``None`` (then ``score`` is required).
        note: Free text, e.g. what was wrong.
        score: A number in [0, 1], for graded feedback.
        db_path: Write straight into this ``traces.db`` instead of the running peekr's storage.

    Returns:
        The stored :class:`~peekr._events.Feedback` record.

    Raises:
        ValueError: A bad argument, or a trace id the SQLite storage does not hold.
        TypeError: ``score`` or ``note`` of the wrong type.
        RuntimeError: peekr is not running and there is no ``traces.db`` to write to.
    """
    record = make_feedback(trace_id, rating, note, score)
    if db_path is not None:
        return write_feedback(db_path, record)
    runtime = _running_runtime()
    if runtime is None:
        if DEFAULT_DB_PATH.is_file():
            return write_feedback(DEFAULT_DB_PATH, record)
        raise RuntimeError(
            "peekr is not running and there is no ./traces.db: call peekr.instrument() first "
            "or pass db_path='path/to/traces.db'"
        )
    settings = getattr(runtime, "settings", None) or getattr(runtime, "config", None)
    if getattr(settings, "storage", None) == "sqlite":
        runtime.flush(5.0)  # the trace's spans may still be on the bus
        _check_trace(Path(getattr(settings, "path", None) or DEFAULT_DB_PATH), trace_id)
    if record.tenant_id is None and getattr(runtime, "tenant_id", None):
        record = record.model_copy(update={"tenant_id": runtime.tenant_id})
    runtime.publish(record)
    return record


def make_feedback(trace_id: object, rating: object, note: object, score: object) -> Feedback:
    """Validate the arguments and build a :class:`Feedback` record stamped now."""
    validate_feedback(trace_id, rating, note, score)
    return Feedback(
        trace_id=trace_id,  # type: ignore[arg-type]
        rating=rating,  # type: ignore[arg-type]
        score=None if score is None else float(score),  # type: ignore[arg-type]
        note=note,  # type: ignore[arg-type]
        created_at=iso_utc(time.time_ns()),
    )


def append_feedback_jsonl(path: str | Path, record: Feedback) -> Feedback:
    """Append ``record`` as a ``"record": "feedback"`` line to a ``traces.jsonl`` (one write, O_APPEND)."""
    line = (record.model_dump_json() + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return record


def write_feedback(db_path: str | Path, record: Feedback) -> Feedback:
    """Insert ``record`` into the feedback table of ``db_path``; the trace must be stored there.

    Raises:
        ValueError: The file is missing, not a peekr database, or does not hold the trace.
    """
    path = Path(db_path)
    if not path.is_file():
        raise ValueError(f"db_path={str(path)!r}: no such file")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        configure_connection(db)
        apply_migrations(db)
        row = db.execute("SELECT tenant_id FROM spans WHERE trace_id = ? LIMIT 1", (record.trace_id,)).fetchone()
        if row is None:
            raise ValueError(_unknown(path, record.trace_id))
        tenant = record.tenant_id or row[0]
        db.execute(
            "INSERT INTO feedback (trace_id, span_id, rating, score, note, created_at, tenant_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.trace_id, record.span_id, record.rating, record.score, record.note, record.created_at, tenant),
        )
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"db_path={str(path)!r} is not a readable peekr database ({exc})") from None
    finally:
        db.close()
    return record.model_copy(update={"tenant_id": tenant})


def _check_trace(path: Path, trace_id: str) -> None:
    if not path.is_file():
        raise ValueError(_unknown(path, trace_id))
    try:
        db = connect_readonly(path)
        try:
            found = db.execute("SELECT 1 FROM spans WHERE trace_id = ? LIMIT 1", (trace_id,)).fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return  # storage not readable from here: let the sink decide
    if found is None:
        raise ValueError(_unknown(path, trace_id))


def _unknown(path: Path, trace_id: str) -> str:
    return f"trace_id={trace_id!r} is not in {path}; list trace ids with `peekr view {path}`"


def _running_runtime() -> Any:
    try:
        from .._runtime import get_runtime
    except ImportError:
        return None
    return get_runtime()
