"""Delete spans older than their retention class allows (``peekr prune``).

Each span's ``retention_class`` (``pii`` 1 d, ``short`` 7 d, ``default`` 30 d, ``long`` 365 d by
default; see :mod:`peekr._retention`) decides how long it is kept, counted from its
``start_time``. Evaluation results of deleted spans go with them; feedback rows go once no span
of their trace is left.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._retention import resolve_retention_days
from .._span import iso_utc
from ..sinks._sqlite_schema import configure_connection
from ._readers import _SQLITE_MAGIC, TraceFileError

__all__ = ["PruneSummary", "prune"]


@dataclass
class PruneSummary:
    """What a prune deleted (or, for a dry run, would delete)."""

    dry_run: bool
    days: dict[str, float]
    spans: dict[str, int] = field(default_factory=dict)  # retention class -> spans deleted
    eval_results: int = 0
    feedback: int = 0
    remaining: int = 0

    @property
    def total(self) -> int:
        """Spans deleted in all."""
        return sum(self.spans.values())


def prune(
    db_path: str | Path,
    *,
    days: Mapping[str, float] | None = None,
    dry_run: bool = False,
    now_ns: int | None = None,
) -> PruneSummary:
    """Delete spans past their retention from a ``traces.db``.

    Example:
        >>> prune("traces.db", days={"default": 14}, dry_run=True).total
        1234

    Args:
        db_path: The SQLite file written by peekr.
        days: Overrides of the default days per retention class, e.g. ``{"short": 3}``.
        dry_run: Count what would be deleted without deleting it.
        now_ns: "Now" as ``time.time_ns()``, for tests.

    Returns:
        A :class:`PruneSummary`.

    Raises:
        TraceFileError: The file is missing or not a peekr SQLite database (a JSONL file included).
        ValueError: An unknown retention class or a non-positive number of days.
    """
    resolved = resolve_retention_days(days)
    path = Path(db_path)
    if not path.is_file():
        raise TraceFileError(f"{path}: no such file")
    head = _head(path)
    if not head:
        raise TraceFileError(f"{path}: empty file (nothing to prune)")
    if head != _SQLITE_MAGIC:
        raise TraceFileError(
            f"{path}: not a SQLite database; prune works on a traces.db only "
            "(a traces.jsonl is append-only: rotate or delete it instead)"
        )
    now = time.time_ns() if now_ns is None else now_ns
    summary = PruneSummary(dry_run=dry_run, days=resolved)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        configure_connection(db)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "spans" not in tables:
            raise TraceFileError(f"{path}: not a peekr traces database (it has no 'spans' table)")
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TEMP TABLE _prune (span_id TEXT PRIMARY KEY, trace_id TEXT, retention_class TEXT)")
            # Unknown classes (a newer writer?) are kept: only the known ones have a deadline.
            for klass, keep_days in resolved.items():
                cutoff = iso_utc(now - int(keep_days * 86400 * 1e9))
                db.execute(
                    "INSERT INTO _prune SELECT span_id, trace_id, retention_class FROM spans "
                    "WHERE retention_class = ? AND start_time < ?",
                    (klass, cutoff),
                )
            summary.spans = dict(db.execute("SELECT retention_class, COUNT(*) FROM _prune GROUP BY 1").fetchall())
            if "eval_results" in tables:
                summary.eval_results = db.execute(
                    "SELECT COUNT(*) FROM eval_results WHERE span_id IN (SELECT span_id FROM _prune)"
                ).fetchone()[0]
            orphan_feedback = (
                "SELECT id FROM feedback WHERE trace_id IN (SELECT trace_id FROM _prune) AND trace_id NOT IN "
                "(SELECT trace_id FROM spans WHERE trace_id IN (SELECT trace_id FROM _prune) "
                "AND span_id NOT IN (SELECT span_id FROM _prune))"
            )
            if "feedback" in tables:
                summary.feedback = db.execute(f"SELECT COUNT(*) FROM ({orphan_feedback})").fetchone()[0]
            if not dry_run:
                if "feedback" in tables:
                    db.execute(f"DELETE FROM feedback WHERE id IN ({orphan_feedback})")
                if "eval_results" in tables:
                    db.execute("DELETE FROM eval_results WHERE span_id IN (SELECT span_id FROM _prune)")
                db.execute("DELETE FROM spans WHERE span_id IN (SELECT span_id FROM _prune)")
            db.execute("DROP TABLE _prune")
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise
        summary.remaining = db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise TraceFileError(f"{path}: corrupt or unreadable database ({exc})") from None
    finally:
        db.close()
    return summary


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(16)
    except OSError as exc:
        raise TraceFileError(f"{path}: cannot read ({exc.strerror})") from None
