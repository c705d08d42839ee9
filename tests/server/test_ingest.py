"""POST /v1/ingest against a real collector on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest
from collector_helpers import WINDOW, auth, body, eval_record, feedback_record, new_key, span_record

from peekr.server._rollups import LATENCY_REL_ERROR
from peekr.server._testing import RunningCollector


def _post(collector: RunningCollector, key: str, payload: object, **kwargs: object) -> httpx.Response:
    return httpx.post(collector.url + "/v1/ingest", json=payload, headers=auth(key), **kwargs)  # type: ignore[arg-type]


def test_spans_evals_and_feedback_are_stored_and_readable(collector: RunningCollector, db: str) -> None:
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    root = span_record(name="agent.run")
    child = span_record(trace_id=root["trace_id"], parent_id=root["span_id"], model="gpt-4o", tokens_total=30)
    answer = _post(
        collector,
        ingest,
        body([root, child], [eval_record(child, 0.25, attributes={"hallucination_details": [{"claim": "x"}]})],
             [feedback_record(root["trace_id"], "bad", "made things up")]),
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.json() == {"version": 1, "accepted": 4, "stored": 4, "duplicates": 0, "rejected": []}

    trace = httpx.get(f"{collector.url}/v1/traces/{root['trace_id']}", headers=auth(read)).json()
    by_id = {s["span_id"]: s for s in trace["spans"]}
    assert by_id[child["span_id"]]["attributes"]["eval_scores"] == {"hallucination": 0.25}
    assert by_id[child["span_id"]]["attributes"]["hallucination_details"] == [{"claim": "x"}]
    assert [f["note"] for f in trace["feedback"]] == ["made things up"]
    assert all(s["tenant_id"] == "acme" for s in trace["spans"])


def test_same_batch_three_times_is_stored_once(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    spans = [span_record() for _ in range(5)]
    payload = body(spans, [eval_record(spans[0], 0.5)], [feedback_record(spans[0]["trace_id"])])
    answers = [_post(collector, key, payload).json() for _ in range(3)]
    assert [(a["stored"], a["duplicates"], a["accepted"]) for a in answers] == [(7, 0, 7), (0, 7, 7), (0, 7, 7)]
    traces = httpx.get(collector.url + "/v1/traces", headers=auth(read)).json()["traces"]
    assert len(traces) == 5 and all(t["span_count"] == 1 for t in traces)
    trace = httpx.get(f"{collector.url}/v1/traces/{spans[0]['trace_id']}", headers=auth(read)).json()
    assert len(trace["eval_results"]) == 1 and len(trace["feedback"]) == 1


def test_partially_valid_batch_stores_the_good_records_and_explains_the_bad(
    collector: RunningCollector, db: str
) -> None:
    key = new_key(db, "acme")
    good = span_record()
    bad_id = {**span_record(), "span_id": "XYZ"}
    bad_time = {**span_record(), "start_time": "yesterday"}
    backwards = {**span_record(), "end_time": "2020-01-01T00:00:00Z"}
    bad_tokens = span_record(tokens_input="many")
    bad_score = eval_record(good, 0.5)
    bad_score["scores"] = {"hallucination": 7}
    answer = _post(
        collector,
        key,
        body([good, bad_id, "not an object", bad_time, backwards, bad_tokens], [bad_score, eval_record(good, 1.0)],
             [{"trace_id": good["trace_id"], "created_at": "2026-11-27T09:00:00Z", "record": "feedback"}]),
    ).json()  # fmt: skip
    assert answer["stored"] == 2 and answer["accepted"] == 2
    rejected = {(r["kind"], r["index"]): r for r in answer["rejected"]}
    assert set(rejected) == {("spans", 1), ("spans", 2), ("spans", 3), ("spans", 4), ("spans", 5),
                             ("eval_results", 0), ("feedback", 0)}  # fmt: skip
    assert "span_id" in rejected[("spans", 1)]["error"] and rejected[("spans", 1)]["id"] == "XYZ"
    assert "JSON object" in rejected[("spans", 2)]["error"]
    assert "ISO-8601" in rejected[("spans", 3)]["error"]
    assert "before start_time" in rejected[("spans", 4)]["error"]
    assert "tokens_input" in rejected[("spans", 5)]["error"]
    assert "outside [0, 1]" in rejected[("eval_results", 0)]["error"]
    assert "rating" in rejected[("feedback", 0)]["error"]


def test_tenant_in_a_span_is_overwritten_by_the_keys_tenant(collector: RunningCollector, db: str) -> None:
    key, evil_read = new_key(db, "acme"), new_key(db, "evil", "read")
    span = span_record(tenant_id="evil")
    assert _post(collector, key, body([span])).json()["stored"] == 1
    assert httpx.get(collector.url + "/v1/traces", headers=auth(evil_read)).json()["traces"] == []
    acme_read = new_key(db, "acme", "read")
    trace = httpx.get(f"{collector.url}/v1/traces/{span['trace_id']}", headers=auth(acme_read)).json()
    assert trace["spans"][0]["tenant_id"] == "acme"


def test_gzip_body_is_accepted(collector: RunningCollector, db: str) -> None:
    key = new_key(db, "acme")
    data = gzip.compress(json.dumps(body([span_record() for _ in range(50)])).encode())
    answer = httpx.post(
        collector.url + "/v1/ingest",
        content=data,
        headers={**auth(key), "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert answer.status_code == 200 and answer.json()["stored"] == 50


def test_malformed_bodies_are_400_with_a_reason(collector: RunningCollector, db: str) -> None:
    key = new_key(db, "acme")
    url, headers = collector.url + "/v1/ingest", auth(key)
    cases = {
        b"{not json": "invalid_json",
        b"[1, 2]": "invalid_body",
        json.dumps({"spans": []}).encode(): "unsupported_version",
        json.dumps({"version": 2, "spans": []}).encode(): "unsupported_version",
        json.dumps({"version": 1, "spans": {}}).encode(): "invalid_body",
    }
    for payload, code in cases.items():
        answer = httpx.post(url, content=payload, headers=headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, code), payload
    corrupt = httpx.post(url, content=b"\x1f\x8bnot gzip at all", headers={**headers, "Content-Encoding": "gzip"})
    assert (corrupt.status_code, corrupt.json()["error"]["code"]) == (400, "invalid_gzip")
    brotli = httpx.post(url, content=b"{}", headers={**headers, "Content-Encoding": "br"})
    assert brotli.status_code == 415


def test_body_limits_compressed_decompressed_and_record_count(start_collector, db: str) -> None:
    key = new_key(db, "acme")
    with start_collector(max_body_bytes=20_000, max_decompressed_bytes=100_000, max_records=100) as collector:
        url, headers = collector.url + "/v1/ingest", auth(key)
        big = json.dumps(body([span_record(input="x" * 30_000)])).encode()
        answer = httpx.post(url, content=big, headers=headers)
        assert answer.status_code == 413 and "split" in answer.json()["error"]["message"]

        # A gzip bomb: 20 MB of zeros is ~20 KB compressed, under the sent-size limit.
        bomb = gzip.compress(b"0" * 20_000_000, 9)
        assert len(bomb) < 20_000
        answer = httpx.post(url, content=bomb, headers={**headers, "Content-Encoding": "gzip"})
        assert answer.status_code == 413 and "decompressed" in answer.json()["error"]["message"]

        many = gzip.compress(json.dumps(body([span_record() for _ in range(101)])).encode())
        answer = httpx.post(url, content=many, headers={**headers, "Content-Encoding": "gzip"})
        assert (answer.status_code, answer.json()["error"]["code"]) == (413, "too_many_records")

        # Nothing of the refused requests was stored; a fitting one still is.
        assert httpx.post(url, json=body([span_record()]), headers=headers).json()["stored"] == 1
        read = new_key(db, "acme", "read")
        assert len(httpx.get(collector.url + "/v1/traces", headers=auth(read)).json()["traces"]) == 1


def test_aggregates_cover_ingested_spans(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    _post(collector, key, body([span_record(model="m", tokens_total=10, duration_ms=d) for d in (10, 20, 30, 40)]))
    rows = httpx.get(
        collector.url + "/v1/stats/aggregates", params={**WINDOW, "group_by": "model"}, headers=auth(read)
    ).json()["rows"]
    percentiles = [rows[0].pop(p) for p in ("p50_ms", "p95_ms", "p99_ms")]
    assert rows == [
        {"bucket": None, "group": "m", "calls": 4, "errors": 0, "error_rate": 0.0, "tokens_input": 0,
         "tokens_output": 0, "tokens_total": 40, "cost_usd": None, "avg_ms": 25.0}
    ]  # fmt: skip
    assert percentiles == pytest.approx([25.0, 38.5, 39.7], rel=LATENCY_REL_ERROR)


def test_eval_result_sent_before_its_span_is_merged_once_the_span_arrives(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    span = span_record(model="gpt-4o")
    early = eval_record(span, 0.6, created_at="2026-11-27T09:00:01.000000Z")
    later = eval_record(span, 0.8, created_at="2026-11-27T09:00:09.000000Z")
    assert _post(collector, key, body(evals=[later])).json()["stored"] == 1
    assert _post(collector, key, body([span], [early])).json()["stored"] == 2
    trace = httpx.get(f"{collector.url}/v1/traces/{span['trace_id']}", headers=auth(read)).json()
    assert trace["spans"][0]["attributes"]["eval_scores"] == {"hallucination": 0.8}  # the newest result wins
    assert [e["scores"]["hallucination"] for e in trace["eval_results"]] == [0.6, 0.8]


def test_attribute_values_come_back_exactly_as_sent(collector: RunningCollector, db: str) -> None:
    # PostgreSQL's jsonb text is written by orjson, with json.dumps for what orjson refuses
    # (integers beyond 64 bits): what is read back must not depend on which one wrote it.
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    values: dict[str, Any] = {
        "big": 123456789012345678901234567890,
        "u64": 18446744073709551615,
        "neg": -9223372036854775809,
        "small": 1e-05,
        "text": 'caf\u00e9 \u2603 \U0001f600 "quoted" \\ back\nslash',
        "nested": {"a": [1, 2.5, None, True, {"b": "c"}]},
    }
    span = span_record(model="m", **values)
    assert _post(collector, key, body([span])).json()["stored"] == 1
    trace = httpx.get(f"{collector.url}/v1/traces/{span['trace_id']}", headers=auth(read)).json()
    got = trace["spans"][0]["attributes"]
    assert {k: got[k] for k in values} == values
    assert type(got["big"]) is int and type(got["small"]) is float


def test_odd_but_valid_json_text_is_stored_on_every_backend(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    span = span_record(name="tool\u0000call", output="nul \u0000 and lone \ud800 surrogate", model="m")
    raw = json.dumps(
        body([span], [eval_record(span, 0.5, error=None)], [feedback_record(span["trace_id"], note="a\u0000b")])
    )
    answer = httpx.post(collector.url + "/v1/ingest", content=raw.encode(), headers=auth(key))
    assert answer.status_code == 200 and answer.json()["stored"] == 3
    trace = httpx.get(f"{collector.url}/v1/traces/{span['trace_id']}", headers=auth(read)).json()
    assert trace["spans"][0]["attributes"]["output"].startswith("nul ")
