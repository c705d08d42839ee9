"""The SQLite sink's batch insert: every batch size stores each span once, odd values keep their neighbours."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from peekr._codec import unencodable_count
from peekr._span import Span, build_span, new_span_id, new_trace_id
from peekr.sinks import SQLiteSink
from peekr.sinks.sqlite import MAX_ROWS

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """aiosqlite needs asyncio; the bus runs the sink on its own asyncio loop whatever the host runs."""
    return "asyncio"


def _span(i: int, **fields: Any) -> Span:
    values: dict[str, Any] = {
        "trace_id": new_trace_id(),
        "span_id": new_span_id(),
        "parent_id": None,
        "name": "openai.chat.completions",
        "start_time": f"2026-12-03T14:00:00.{i:06d}Z",
        "end_time": f"2026-12-03T14:00:01.{i:06d}Z",
        "duration_ms": 1000.0 + i,
        "status": "ok",
        "tenant_id": None,
        "retention_class": "default",
        "attributes": {"i": i, "model": "gpt-4o-mini", "nested": {"k": [1, 2.5, None, "é"]}},
    }
    values.update(fields)
    return build_span(values)


def _rows(path: Path) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT span_id, trace_id, parent_id, name, start_time, end_time, duration_ms, status, tenant_id,"
            " retention_class, attributes FROM spans"
        ).fetchall()
    return {row[0]: row for row in rows}


@pytest.mark.parametrize("n", [1, 3, 63, 64, 65, 700, MAX_ROWS + 1, 2 * MAX_ROWS + 100])
async def test_a_batch_of_any_size_stores_each_span_exactly_once(tmp_path: Path, n: int) -> None:
    """Sizes between the padded statement sizes and batches split over several statements."""
    path = tmp_path / "traces.db"
    sink = SQLiteSink(path)
    spans = [_span(i) for i in range(n)]
    try:
        await sink.write(spans)
        await sink.write(spans[: n // 2 + 1])  # a retried batch: stored spans are not duplicated
    finally:
        await sink.aclose()
    rows = _rows(path)
    assert len(rows) == n
    for i in (0, n // 2, n - 1):
        span = spans[i]
        row = rows[span.span_id]
        assert row[1:10] == (
            span.trace_id,
            None,
            "openai.chat.completions",
            span.start_time,
            span.end_time,
            1000.0 + i,
            "ok",
            None,
            "default",
        )
        assert row[10] == f'{{"i":{i},"model":"gpt-4o-mini","nested":{{"k":[1,2.5,null,"é"]}}}}'


async def test_values_sqlite_cannot_bind_are_stored_like_json_and_keep_their_neighbours(tmp_path: Path) -> None:
    """A lone surrogate, an int past 64 bits, a list and an object in top-level fields: the batch is stored
    through the JSON path (what the JSONL sink writes), nothing is dropped."""
    path = tmp_path / "traces.db"
    sink = SQLiteSink(path)
    before = unencodable_count()
    odd = [
        _span(1, name="bad \ud800 name"),
        _span(2, duration_ms=10**30),
        _span(3, status=["ok", "again"]),
        _span(4, tenant_id=Path("tenant-a")),
    ]
    spans = [_span(0), *odd, _span(5)]
    try:
        await sink.write(spans)
    finally:
        await sink.aclose()
    rows = _rows(path)
    assert len(rows) == 6
    assert rows[spans[0].span_id][3] == rows[spans[5].span_id][3] == "openai.chat.completions"
    assert rows[odd[0].span_id][3] == "bad ? name"  # repaired, and counted
    assert unencodable_count() == before + 1
    assert rows[odd[1].span_id][6] == 1e30
    assert rows[odd[2].span_id][7] == '["ok","again"]'
    assert rows[odd[3].span_id][8] == "tenant-a"


async def test_a_batch_that_stores_only_part_of_its_rows_is_not_padded_into_another_span(tmp_path: Path) -> None:
    """Padding repeats the batch's last row; a later span with that id is still ignored, not replaced."""
    path = tmp_path / "traces.db"
    sink = SQLiteSink(path)
    first = [_span(i) for i in range(5)]  # padded to 8 rows
    again = _span(9, span_id=first[-1].span_id, name="replacement")
    try:
        await sink.write(first)
        await sink.write([again, _span(10)])
    finally:
        await sink.aclose()
    rows = _rows(path)
    assert len(rows) == 6
    assert rows[first[-1].span_id][3] == "openai.chat.completions"


async def test_nullable_columns_store_null_empty_and_zero_strings_as_they_are(tmp_path: Path) -> None:
    """``parent_id`` / ``tenant_id``: None is NULL, never "" or "0"; a number (not a str) is stored as its text."""
    path = tmp_path / "traces.db"
    sink = SQLiteSink(path)
    parent = new_span_id()
    spans = [
        _span(0),
        _span(1, parent_id=parent, tenant_id=""),
        _span(2, tenant_id="0"),
        _span(3, tenant_id="acme", parent_id=None),
    ]
    odd = [_span(4), _span(5, tenant_id=0), _span(6, parent_id=0.0)]  # not a str: the columns' TEXT affinity
    try:
        await sink.write(spans)
        await sink.write(odd)
    finally:
        await sink.aclose()
    with sqlite3.connect(path) as db:
        stored = {
            row[0]: row[1:]
            for row in db.execute(
                "SELECT span_id, typeof(parent_id), parent_id, typeof(tenant_id), tenant_id FROM spans"
            )
        }
    assert [stored[s.span_id] for s in spans] == [
        ("null", None, "null", None),
        ("text", parent, "text", ""),
        ("null", None, "text", "0"),
        ("null", None, "text", "acme"),
    ]
    assert [stored[s.span_id] for s in odd] == [
        ("null", None, "null", None),
        ("null", None, "text", "0"),
        ("text", "0.0", "null", None),
    ]
