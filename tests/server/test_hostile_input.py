"""Careless and hostile input: every answer is 2xx or 4xx, bad records are rejected one by one, and
nothing a tenant sends can break that tenant's (or anyone's) reads. Real collector, both backends."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from collector_helpers import WINDOW, auth, body, eval_record, feedback_record, new_key, span_record

from peekr.server._testing import RunningCollector

READS = (  # type: ignore[var-annotated]
    ("/v1/traces", {"since": "0001-01-01T00:00:00Z", "limit": 500}),
    ("/v1/stats/aggregates", {**WINDOW, "group_by": "model", "interval": "hour"}),
    ("/v1/stats/worst", {**WINDOW, "metric": "cost"}),
    ("/v1/stats/worst", {**WINDOW, "metric": "tokens"}),
    ("/v1/stats/scores", WINDOW),
    ("/v1/feedback", {}),
)


def _raw(collector: RunningCollector, key: str, text: str | bytes) -> httpx.Response:
    data = text.encode() if isinstance(text, str) else text
    return httpx.post(
        collector.url + "/v1/ingest", content=data, headers={**auth(key), "Content-Type": "application/json"}
    )


def _reads_work(collector: RunningCollector, read: str) -> dict[str, Any]:
    """Every read endpoint answers 200 for this tenant; returns the trace list."""
    answers = {}  # type: ignore[var-annotated]
    for path, params in READS:
        answer = httpx.get(collector.url + path, params=params, headers=auth(read))  # type: ignore[arg-type]
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        answers.setdefault(path, answer.json())
    return answers["/v1/traces"]  # type: ignore[no-any-return]


# -- NaN, Infinity and numbers out of range ----------------------------------------------------


def test_nan_and_infinity_reject_their_record_only(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    good = [span_record(model="m", cost_usd=0.5, tokens_total=3) for _ in range(3)]
    bad = [
        span_record(model="m", cost_usd=float("nan")),
        span_record(model="m", output={"deep": [1, {"x": float("inf")}]}),
        span_record(model="m", custom=float("-inf")),
        {**span_record(), "duration_ms": float("nan")},
        span_record(model="m", cost_usd=123456.5),  # sent as 1e400 below: inf once parsed
    ]
    spans = [good[0], *bad[:2], good[1], *bad[2:], good[2]]
    evals = [eval_record(good[0], 0.5), eval_record(good[1], float("nan"))]
    feedback = [feedback_record(good[0]["trace_id"]), {**feedback_record(good[1]["trace_id"]), "score": float("inf")}]
    text = json.dumps(body(spans, evals, feedback)).replace("123456.5", "1e400")
    answer = _raw(collector, key, text)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["stored"] == 5  # 3 spans, 1 eval result, 1 feedback
    rejected = {(r["kind"], r["index"]) for r in result["rejected"]}
    assert rejected == {("spans", i) for i in (1, 2, 4, 5, 6)} | {("eval_results", 1), ("feedback", 1)}
    for r in result["rejected"]:
        if r["kind"] == "spans":
            assert "not a finite number" in r["error"] or "NaN" in r["error"], r
    assert any("attributes.output.deep.1.x" in r["error"] for r in result["rejected"])
    listed = _reads_work(collector, read)
    assert {t["trace_id"] for t in listed["traces"]} == {s["trace_id"] for s in good}


def test_negative_or_absurd_token_counts_and_costs_are_rejected(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    good = span_record(model="m", tokens_total=10, cost_usd=0.01)
    bad = [
        span_record(tokens_input=-1),
        span_record(tokens_total=-5),
        span_record(cost_usd=-0.01),
        span_record(tokens_total=10**40),
        span_record(cost_usd=1e300),
        span_record(ttft_ms=-3.0),
    ]
    result = httpx.post(collector.url + "/v1/ingest", json=body([good, *bad]), headers=auth(key)).json()
    assert result["stored"] == 1
    assert sorted(r["index"] for r in result["rejected"]) == [1, 2, 3, 4, 5, 6]
    assert all(r["kind"] == "spans" and r["id"] for r in result["rejected"])
    listed = _reads_work(collector, read)
    assert [t["tokens_total"] for t in listed["traces"]] == [10]


def test_a_record_nested_too_deep_is_rejected_alone(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    good = span_record(model="m")
    deep: Any = "bottom"
    for _ in range(300):
        deep = [deep]
    result = httpx.post(
        collector.url + "/v1/ingest", json=body([good, span_record(output=deep)]), headers=auth(key)
    ).json()
    assert result["stored"] == 1 and [r["index"] for r in result["rejected"]] == [1]
    assert "nested deeper" in result["rejected"][0]["error"]
    assert len(_reads_work(collector, read)["traces"]) == 1


def test_a_body_nested_100000_deep_is_400_and_the_collector_keeps_serving(collector: RunningCollector, db: str) -> None:
    key = new_key(db, "acme")
    for opening, closing in ((b"[", b"]"), (b'{"a":', b"}")):
        text = b'{"version": 1, "spans": [' + opening * 100_000 + b"1" + closing * 100_000 + b"]}"
        answer = _raw(collector, key, text)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_json")
        assert "nested" in answer.json()["error"]["message"]
    assert httpx.post(collector.url + "/v1/ingest", json=body([span_record()]), headers=auth(key)).json()["stored"] == 1


def test_a_deep_record_with_a_lone_surrogate_is_rejected_alone(collector: RunningCollector, db: str) -> None:
    key = new_key(db, "acme")
    good, deep = json.dumps(span_record()), json.dumps(span_record(output="X"))
    deep = deep.replace('"X"', "[" * 900 + '"\\ud800"' + "]" * 900)  # parses, but deep for Python code
    answer = _raw(collector, key, '{"version": 1, "spans": [' + good + ", " + deep + "]}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == 1 and "nested deeper" in answer.json()["rejected"][0]["error"]


def test_an_integer_over_4300_digits_rejects_its_record_only(collector: RunningCollector, db: str) -> None:
    key = new_key(db, "acme")
    good = span_record()
    text = json.dumps(body([good, span_record(custom=12345)])).replace("12345", "9" * 5000)
    result = _raw(collector, key, text).json()
    assert result["stored"] == 1 and [r["index"] for r in result["rejected"]] == [1]
    assert "attributes.custom" in result["rejected"][0]["error"]


@pytest.mark.parametrize("version", ["true", "1.0", '"1"', "null", "1e0"])
def test_only_the_integer_1_is_wire_version_1(collector: RunningCollector, db: str, version: str) -> None:
    key = new_key(db, "acme")
    answer = _raw(collector, key, '{"version": ' + version + ', "spans": []}')
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "unsupported_version")


# -- timestamps ----------------------------------------------------------------------------------


def test_timestamps_are_stored_in_one_sortable_utc_form(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    cases = {
        "0999-06-01T00:00:00Z": "0999-06-01T00:00:00.000000Z",
        "2026-11-27T10:00:00+01:00": "2026-11-27T09:00:00.000000Z",
        "2026-11-27T09:00:00.5Z": "2026-11-27T09:00:00.500000Z",
        "2026-11-27 09:00:01": "2026-11-27T09:00:01.000000Z",
        "0001-01-01T00:00:00Z": "0001-01-01T00:00:00.000000Z",
        "9999-12-31T23:59:59.999999Z": "9999-12-31T23:59:59.999999Z",
    }
    spans = [{**span_record(), "start_time": raw, "end_time": raw, "duration_ms": 0} for raw in cases]
    result = httpx.post(collector.url + "/v1/ingest", json=body(spans), headers=auth(key)).json()
    assert result["rejected"] == [] and result["stored"] == len(cases)
    listed = httpx.get(
        collector.url + "/v1/traces", params={"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59.999999Z",
                                              "limit": 500}, headers=auth(read)
    )  # fmt: skip
    assert listed.status_code == 200, listed.text
    got = [t["start_time"] for t in listed.json()["traces"]]
    expected = sorted(cases.values(), reverse=True)[1:]  # until is exclusive: 9999-12-31T23:59:59.999999Z is out
    assert got == expected
    for span, stored in zip(spans, cases.values(), strict=True):
        trace = httpx.get(f"{collector.url}/v1/traces/{span['trace_id']}", headers=auth(read)).json()
        assert trace["spans"][0]["start_time"] == stored


def test_unrepresentable_timestamps_reject_their_record_only(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    bad = [
        "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
        "0001-01-01T00:00:00+14:00",  # year 0 in UTC
        "2026-11-27T09:00:00.000000Z\n",
        "\uff12\uff10\uff12\uff16-11-27T09:00:00.000000Z",  # full-width digits
        "2026-02-30T00:00:00Z",
        "2026-11-27T09:00:00.000000+25:00",
    ]
    good = span_record(model="m")
    spans = [good, *({**span_record(), "start_time": t, "end_time": t} for t in bad)]
    evals = [eval_record(good, 0.5, created_at="9999-12-31T23:59:59-14:00")]
    answer = httpx.post(collector.url + "/v1/ingest", json=body(spans, evals), headers=auth(key))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["stored"] == 1
    assert {(r["kind"], r["index"]) for r in result["rejected"]} == {("spans", i) for i in range(1, 7)} | {
        ("eval_results", 0)
    }
    assert "cannot be represented" in result["rejected"][0]["error"]
    assert len(_reads_work(collector, read)["traces"]) == 1


def test_retention_purges_a_span_from_year_999(start_collector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    ancient = {**span_record(), "start_time": "0999-06-01T00:00:00Z", "end_time": "0999-06-01T00:00:01Z"}
    with start_collector() as collector:
        assert httpx.post(collector.url + "/v1/ingest", json=body([ancient]), headers=auth(key)).json()["stored"] == 1
    with start_collector(purge_interval_s=3600) as collector:  # purges at start
        url = f"{collector.url}/v1/traces/{ancient['trace_id']}"
        for _ in range(200):
            if httpx.get(url, headers=auth(read)).status_code == 404:
                break
        assert httpx.get(url, headers=auth(read)).status_code == 404


# -- query parameters and cursors ---------------------------------------------------------------


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


FORGED_TRACE_CURSORS = [
    _cursor(["2026-11-27T09:00:00.000000Z", "zz"]),
    _cursor(["not a time", "0" * 32]),
    _cursor(["9999-12-31T23:59:59-14:00", "0" * 32]),
    _cursor(["2026-11-27T09:00:00.000000Z\n", "0" * 32]),
    _cursor(["\uff12\uff10\uff12\uff16-11-27T09:00:00.000000Z", "0" * 32]),
    _cursor(["2026-11-27T09:00:00.000000Z", "9" * 5000]),
    "%%%",
    "x" * 10_000,
]
FORGED_FEEDBACK_CURSORS = [
    _cursor(["2026-11-27T09:00:00.000000Z", "9" * 4301]),
    _cursor(["2026-11-27T09:00:00.000000Z", "9" * 40]),  # over 64 bits
    _cursor(["2026-11-27T09:00:00.000000Z", "\u0661\u0662"]),  # Arabic-Indic digits
    _cursor(["2026-11-27T09:00:00.000000Z", "\u00b2"]),  # superscript two: isdigit() but not int()
    _cursor(["2026-11-27T09:00:00.000000Z", "-1"]),
    _cursor(["not a time", "12"]),
    _cursor(["0999-01-01T00:00:00Z", "12"]),
]


def test_forged_cursors_are_400(collector: RunningCollector, db: str) -> None:
    read = new_key(db, "acme", "read")
    for path, cursors in (("/v1/traces", FORGED_TRACE_CURSORS), ("/v1/feedback", FORGED_FEEDBACK_CURSORS)):
        for cursor in cursors:
            answer = httpx.get(collector.url + path, params={"cursor": cursor}, headers=auth(read))
            assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_cursor"), (path, cursor)


WINDOWED = ("/v1/stats/aggregates", "/v1/stats/scores", "/v1/stats/worst")


def test_a_window_ending_in_year_1_needs_a_since(collector: RunningCollector, db: str) -> None:
    read = new_key(db, "acme", "read")
    for path in WINDOWED:  # the default since (24 h before until) would be before year 1
        answer = httpx.get(collector.url + path, params={"until": "0001-01-01T00:00:00Z"}, headers=auth(read))
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_parameter"), path
        assert "since" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "9999-12-31T23:59:59-14:00"},
        {"until": "0001-01-01T00:00:00+14:00"},
        {"since": "2026-11-27T09:00:00.000000Z\n"},
        {"since": "1" * 5000},
        {"since": "\uff12\uff10\uff12\uff16-11-27"},
    ],
)
def test_out_of_range_windows_are_400(collector: RunningCollector, db: str, params: dict[str, str]) -> None:
    read = new_key(db, "acme", "read")
    for path in ("/v1/traces", *WINDOWED):
        answer = httpx.get(collector.url + path, params=params, headers=auth(read))
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_parameter"), (path, params)


@pytest.mark.parametrize("field", ["name", "model", "feature", "endpoint", "user_id", "session_id"])
def test_nul_in_a_filter_is_400(collector: RunningCollector, db: str, field: str) -> None:
    read = new_key(db, "acme", "read")
    answer = httpx.get(collector.url + "/v1/traces", params={field: "a\x00b"}, headers=auth(read))
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_parameter")
    assert field in answer.json()["error"]["message"]


def test_cursor_pages_still_work_with_old_and_new_timestamps(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    times = ["0999-06-01T00:00:00Z", "2026-11-27T09:00:00Z", "2026-11-27T10:00:00+01:00"]
    spans = [{**span_record(), "start_time": t, "end_time": t, "duration_ms": 0} for t in times]
    assert httpx.post(collector.url + "/v1/ingest", json=body(spans), headers=auth(key)).json()["stored"] == 3
    seen, cursor = [], None
    for _ in range(5):
        params: dict[str, Any] = {"since": "0001-01-01T00:00:00Z", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(collector.url + "/v1/traces", params=params, headers=auth(read))
        assert page.status_code == 200, page.text
        seen += [t["trace_id"] for t in page.json()["traces"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(s["trace_id"] for s in spans)


def test_feedback_pages_follow_the_cursor(collector: RunningCollector, db: str) -> None:
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    span = span_record()
    at = [datetime(2026, 11, 27, 9, m, tzinfo=timezone.utc) for m in range(3)]
    feedback = [feedback_record(span["trace_id"], note=f"n{i}", at=t) for i, t in enumerate(at)]
    httpx.post(collector.url + "/v1/ingest", json=body([span], feedback=feedback), headers=auth(key))
    first = httpx.get(collector.url + "/v1/feedback", params={"limit": 2}, headers=auth(read)).json()
    second = httpx.get(
        collector.url + "/v1/feedback", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth(read)
    ).json()
    assert [f["note"] for f in first["feedback"] + second["feedback"]] == ["n2", "n1", "n0"]
