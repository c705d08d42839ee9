"""`peekr.feedback`: into a given traces.db, through the running storage, or ./traces.db; bad arguments."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from _cli_sample import Sample

import peekr


def _feedback_rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT trace_id, rating, score, note FROM feedback ORDER BY id").fetchall()


def test_feedback_into_a_db_path(traces_db: Path, sample: Sample) -> None:
    trace = sample.ids["gemini_trace"]
    record = peekr.feedback(trace, rating="bad", note="too short", score=0.25, db_path=traces_db)
    assert (record.trace_id, record.rating, record.score, record.note) == (trace, "bad", 0.25, "too short")
    assert _feedback_rows(traces_db)[-1] == (trace, "bad", 0.25, "too short")


def test_feedback_through_the_running_sqlite_storage(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    peekr.instrument(storage="sqlite", path=db, providers=[])
    with peekr.span("answer") as span:
        trace_id = span.trace_id
    peekr.feedback(trace_id, rating="good", note="spot on")  # flushes the span first, then checks it exists
    peekr.feedback(trace_id, rating="bad")  # several ratings per trace are kept
    with pytest.raises(ValueError, match="is not in .*app.db; list trace ids with `peekr view"):
        peekr.feedback("f" * 32, rating="good")
    peekr.shutdown()
    assert [(r[1], r[3]) for r in _feedback_rows(db) if r[0] == trace_id] == [("good", "spot on"), ("bad", None)]


def test_feedback_without_peekr_running_uses_traces_db_in_the_current_directory(
    tmp_path: Path, sample: Sample, traces_db: Path
) -> None:
    assert traces_db == tmp_path / "traces.db"  # the test runs in tmp_path
    peekr.feedback(sample.ids["bedrock_trace"], rating="good")
    assert _feedback_rows(traces_db)[-1][:2] == (sample.ids["bedrock_trace"], "good")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"trace_id": "xyz", "rating": "good"},
            ValueError,
            "trace_id='xyz' is not a trace id; expected 32 lowercase hex",
        ),
        ({"trace_id": "a" * 32, "rating": "meh"}, ValueError, "rating='meh' is not a rating; expected 'good', 'bad'"),
        (
            {"trace_id": "a" * 32, "rating": None, "score": 1.5},
            ValueError,
            r"score=1.5 is out of range; expected a number in \[0, 1\]",
        ),
        ({"trace_id": "a" * 32, "rating": None}, ValueError, "needs a rating .* or a score"),
        ({"trace_id": "a" * 32, "score": "high"}, TypeError, "score='high' must be a number"),
    ],
)
def test_feedback_rejects_bad_arguments(
    kwargs: dict[str, Any], error: type[Exception], match: str, traces_db: Path
) -> None:
    with pytest.raises(error, match=match):
        peekr.feedback(**kwargs, db_path=traces_db)


def test_feedback_unknown_trace_in_db(traces_db: Path) -> None:
    with pytest.raises(ValueError, match=f"trace_id='{'c' * 32}' is not in .*traces.db"):
        peekr.feedback("c" * 32, rating="good", db_path=traces_db)
