"""One attribute JSON cannot hold loses that value only: never its span, never a neighbour."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from collector_helpers import auth
from exporter_helpers import Collector

import peekr
from peekr._events import EvalResult
from peekr._runtime import get_runtime
from peekr.server._testing import free_port
from peekr.sinks import JSONLSink
from peekr.sinks.http import HTTPExporter

WIDE = {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z", "limit": 500}


class Unprintable:
    def __str__(self) -> str:
        raise TypeError("no str() for you")


def _bad_values() -> dict[str, Any]:
    loop: dict[str, Any] = {"kept": 1}
    loop["self"] = loop
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(300):
        node["a"] = {}
        node = node["a"]
    return {"loop": loop, "deep": deep, "odd": Unprintable(), "text": "half a pair: \ud800"}


_traces: dict[int, str] = {}


def _publish(n: int, bad_at: int) -> None:
    for i in range(n):
        with peekr.span("work", i=i, model="gpt-4o") as span:
            _traces[i] = span.trace_id
            if i == bad_at:
                span.set_attributes(_bad_values())


def _trace_of(i: int) -> str:
    return _traces[i]


def _check_bad(attributes: dict[str, Any]) -> None:
    assert attributes["loop"] == {"kept": 1, "self": "[unencodable: circular reference]"}
    node = attributes["deep"]
    for _ in range(63):
        node = node["a"]
    assert node == "[unencodable: nested deeper than 64 levels]"
    assert attributes["odd"] == "[unencodable: TypeError: no str() for you]"
    assert attributes["text"] == "half a pair: ?"
    assert attributes["model"] == "gpt-4o" and attributes["i"] == 150


def test_one_unencodable_span_loses_only_its_bad_values_in_sqlite_jsonl_and_the_collector(
    collector: Collector, tmp_path: Path
) -> None:
    db, jsonl = tmp_path / "traces.db", tmp_path / "traces.jsonl"
    before = peekr.stats().unencodable_values
    peekr.instrument(
        storage="sqlite", path=str(db), sinks=[JSONLSink(jsonl)], exporter=HTTPExporter(collector.url, collector.key)
    )
    _publish(301, bad_at=150)
    assert peekr.flush(timeout=20)
    stats = peekr.stats()
    assert stats.dropped_total == 0, dict(stats.dropped)
    # 4 values replaced, once: the first sink repairs the shared span, the others store it as is
    assert stats.unencodable_values - before == 4

    rows = sqlite3.connect(db).execute("SELECT json_extract(attributes, '$.i'), attributes FROM spans").fetchall()
    assert sorted(i for i, _ in rows) == list(range(301))
    _check_bad(next(json.loads(a) for i, a in rows if i == 150))

    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert sorted(line["attributes"]["i"] for line in lines) == list(range(301))
    _check_bad(next(line["attributes"] for line in lines if line["attributes"]["i"] == 150))

    traces = httpx.get(collector.url + "/v1/traces", params=WIDE, headers=auth(collector.read_key)).json()["traces"]  # type: ignore[arg-type]
    assert len(traces) == 301
    bad = next(t["trace_id"] for t in traces if t["trace_id"] == _trace_of(150))
    _check_bad(
        httpx.get(f"{collector.url}/v1/traces/{bad}", headers=auth(collector.read_key)).json()["spans"][0]["attributes"]
    )


def test_an_unencodable_span_is_spooled_with_its_neighbours(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    exporter = HTTPExporter(f"http://127.0.0.1:{free_port()}", "pk_test", retry_deadline=0.2, spool_dir=spool)
    peekr.instrument(storage="none", exporter=exporter)
    _publish(301, bad_at=150)
    assert peekr.flush(timeout=20)
    lines = [
        json.loads(line) for path in spool.glob("*.gz") for line in gzip.decompress(path.read_bytes()).splitlines()
    ]
    assert sorted(line["attributes"]["i"] for line in lines) == list(range(301))
    _check_bad(next(line["attributes"] for line in lines if line["attributes"]["i"] == 150))


def test_an_unencodable_eval_result_or_feedback_loses_only_its_bad_value(collector: Collector, tmp_path: Path) -> None:
    db, jsonl = tmp_path / "traces.db", tmp_path / "traces.jsonl"
    peekr.instrument(
        storage="sqlite", path=str(db), sinks=[JSONLSink(jsonl)], exporter=HTTPExporter(collector.url, collector.key)
    )
    spans = []
    for i in range(3):
        with peekr.span("work", i=i) as span:
            spans.append(span)
    assert peekr.flush(timeout=10)
    runtime = get_runtime()
    assert runtime is not None
    loop: dict[str, Any] = {}
    loop["self"] = loop
    for span, details in ((spans[0], loop), (spans[1], [{"claim": "fine", "verdict": "supported"}])):
        runtime.publish(
            EvalResult(span_id=span.span_id, trace_id=span.trace_id, evaluator="hallucination",
                       scores={"hallucination": 0.5}, attributes={"hallucination_details": details},
                       created_at="2026-11-27T09:00:00Z")
        )  # fmt: skip
    peekr.feedback(trace_id=spans[2].trace_id, rating="bad", note="half a pair: \ud800")
    assert peekr.flush(timeout=10)
    assert peekr.stats().dropped_total == 0, dict(peekr.stats().dropped)

    conn = sqlite3.connect(db)
    merged = dict(conn.execute("SELECT span_id, json_extract(attributes, '$.hallucination_details') FROM spans"))
    assert json.loads(merged[spans[0].span_id]) == {"self": "[unencodable: circular reference]"}
    assert json.loads(merged[spans[1].span_id]) == [{"claim": "fine", "verdict": "supported"}]
    assert conn.execute("SELECT note FROM feedback").fetchall() == [("half a pair: ?",)]

    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert sorted(r.get("record", "span") for r in records) == ["eval", "eval", "feedback", "span", "span", "span"]

    read = auth(collector.read_key)
    first = httpx.get(f"{collector.url}/v1/traces/{spans[0].trace_id}", headers=read).json()
    assert first["spans"][0]["attributes"]["eval_scores"] == {"hallucination": 0.5}
    last = httpx.get(f"{collector.url}/v1/traces/{spans[2].trace_id}", headers=read).json()
    assert [f["note"] for f in last["feedback"]] == ["half a pair: ?"]
