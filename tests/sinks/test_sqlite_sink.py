"""The SQLite sink: DESIGN.md's query verbatim, eval-result merging, migrations, several writers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import peekr
from peekr._events import EvalResult
from peekr._runtime import get_runtime
from peekr.sinks._sqlite_schema import SCHEMA_VERSION

DESIGN_QUERY = """
SELECT json_extract(attributes, '$.model') AS model,
       AVG(json_extract(attributes, '$.tokens_total')) AS avg_tokens,
       AVG(duration_ms) AS avg_ms, COUNT(*) AS calls
FROM spans WHERE name LIKE 'openai.chat%'
GROUP BY model ORDER BY avg_tokens DESC;
"""


def test_design_query_runs_verbatim_and_averages_correctly(tmp_path: Path) -> None:
    db_path = tmp_path / "traces.db"
    peekr.instrument(storage="sqlite", path=db_path)
    for model, tokens in [
        ("gpt-4o", 100),
        ("gpt-4o", 300),
        ("gpt-4o-mini", 10),
        ("gpt-4o-mini", 30),
        ("gpt-4o-mini", 50),
    ]:
        with peekr.span("openai.chat.completions", model=model, tokens_total=tokens):
            pass
    with peekr.span("openai.embeddings", model="text-embedding-3-small", tokens_total=9999):
        pass
    assert peekr.shutdown()

    db = sqlite3.connect(db_path)
    rows = db.execute(DESIGN_QUERY).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [("gpt-4o", 200.0, 2), ("gpt-4o-mini", 30.0, 3)]
    durations = dict(
        db.execute(
            "SELECT json_extract(attributes, '$.model'), AVG(duration_ms) FROM spans "
            "WHERE name LIKE 'openai.chat%' GROUP BY 1"
        ).fetchall()
    )
    assert [r[2] for r in rows] == [durations["gpt-4o"], durations["gpt-4o-mini"]]
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"idx_spans_trace_id", "idx_spans_start_time", "idx_spans_name", "idx_spans_tenant_id"} <= indexes
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def _result(span: peekr.Span, score: float | None) -> EvalResult:
    return EvalResult(
        span_id=span.span_id,
        trace_id=span.trace_id,
        evaluator="hallucination",
        scores={"hallucination": score},
        attributes={"hallucination_details": [{"claim": "c", "verdict": "supported", "reason": "r"}]},
        created_at="2026-01-01T00:00:00.000000Z",
    )


@pytest.mark.parametrize("result_first", [False, True], ids=["span-first", "result-first"])
def test_eval_results_are_merged_into_span_attributes_in_either_order(tmp_path: Path, result_first: bool) -> None:
    db_path = tmp_path / "traces.db"
    peekr.instrument(storage="sqlite", path=db_path)
    runtime = get_runtime()
    assert runtime is not None
    with peekr.span("openai.chat.completions", model="m") as s:
        pass
    span = peekr.Span.model_validate(
        {
            "trace_id": s.trace_id,
            "span_id": s.span_id,
            "name": "x",
            "start_time": "t",
            "end_time": "t",
            "duration_ms": 1.0,
        }
    )
    if result_first:
        # The result reaches SQLite before its span: stored on its own, merged when the span lands.
        peekr.shutdown()
        db = sqlite3.connect(db_path)
        db.execute("DELETE FROM spans")
        db.commit()
        peekr.instrument(storage="sqlite", path=db_path)
        get_runtime().publish(_result(span, None))  # type: ignore[union-attr]
        assert peekr.flush()
        get_runtime().publish(  # type: ignore[union-attr]
            peekr.Span.model_construct(
                trace_id=s.trace_id,
                span_id=s.span_id,
                parent_id=None,
                name="openai.chat.completions",
                start_time="2026-01-01T00:00:00.000000Z",
                end_time="2026-01-01T00:00:00.000000Z",
                duration_ms=1.0,
                status="ok",
                tenant_id=None,
                retention_class="default",
                attributes={"model": "m"},
            )
        )
    else:
        runtime.publish(_result(span, 0.5))
    assert peekr.shutdown()
    attributes = json.loads(sqlite3.connect(db_path).execute("SELECT attributes FROM spans").fetchone()[0])
    assert attributes["model"] == "m"
    assert attributes["eval_scores"] == {"hallucination": None if result_first else 0.5}
    assert attributes["hallucination_details"][0]["verdict"] == "supported"


def test_feedback_is_stored_in_its_own_table(tmp_path: Path) -> None:
    db_path = tmp_path / "traces.db"
    peekr.instrument(storage="sqlite", path=db_path)
    with peekr.span("work") as s:
        pass
    get_runtime().publish(  # type: ignore[union-attr]
        peekr.Feedback(trace_id=s.trace_id, rating="good", note="nice", created_at="2026-01-01T00:00:00Z")
    )
    assert peekr.shutdown()
    rows = sqlite3.connect(db_path).execute("SELECT trace_id, rating, note FROM feedback").fetchall()
    assert rows == [(s.trace_id, "good", "nice")]


def test_migrations_are_recorded_and_rerun_is_a_no_op(tmp_path: Path) -> None:
    db_path = tmp_path / "traces.db"
    for _ in range(2):
        peekr.instrument(storage="sqlite", path=db_path)
        with peekr.span("x"):
            pass
        assert peekr.shutdown()
    db = sqlite3.connect(db_path)
    names = [r[0] for r in db.execute("SELECT name FROM _peekr_migrations ORDER BY name")]
    assert names == ["m001_spans", "m002_eval_results", "m003_feedback"]
    assert db.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == 2


def test_several_processes_write_the_same_file(tmp_path: Path) -> None:
    db_path = tmp_path / "shared.db"
    script = textwrap.dedent(
        f"""
        import peekr
        peekr.instrument(storage="sqlite", path={str(db_path)!r})
        for i in range(2000):
            with peekr.span("writer", i=i):
                pass
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    count = sqlite3.connect(db_path).execute("SELECT COUNT(DISTINCT span_id) FROM spans").fetchone()[0]
    assert count == 6000
