"""The read API on a real collector: tenant isolation on every endpoint, filters, pagination, stats."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from collector_helpers import BASE, WINDOW, auth, body, database, eval_record, feedback_record, new_key, span_record

from peekr.server import ServerSettings
from peekr.server._rollups import LATENCY_REL_ERROR
from peekr.server._testing import run_collector

TENANTS = ("acme", "globex")


def _populate(db: str, url: str) -> dict[str, Any]:
    """Two tenants with distinct data: acme has 6 traces (3 with scores), globex 3."""
    data: dict[str, Any] = {}
    for tenant, n, model in (("acme", 6, "gpt-4o"), ("globex", 3, "claude-3")):
        spans, evals, feedback = [], [], []
        for i in range(n):
            root = span_record(
                name="agent.run", start=BASE + timedelta(minutes=10 * i), duration_ms=500, user_id=f"{tenant}-u{i % 2}"
            )
            llm = span_record(
                trace_id=root["trace_id"],
                parent_id=root["span_id"],
                name="openai.chat.completions" if i % 2 == 0 else "anthropic.messages",
                start=BASE + timedelta(minutes=10 * i, milliseconds=50),
                duration_ms=100 * (i + 1),
                status="error" if i == 1 else "ok",
                model=model,
                feature="search" if i < 2 else "chat",
                tokens_input=10,
                tokens_output=5 * (i + 1),
                tokens_total=10 + 5 * (i + 1),
                cost_usd=0.001 * (i + 1),
            )
            spans += [root, llm]
            if i < 3:
                evals.append(eval_record(llm, [0.9, 0.1, None][i]))
            feedback.append(
                feedback_record(root["trace_id"], "good" if i % 2 == 0 else "bad", at=BASE + timedelta(minutes=i))
            )
        key = new_key(db, tenant)
        answer = httpx.post(url + "/v1/ingest", json=body(spans, evals, feedback), headers=auth(key)).json()
        assert answer["rejected"] == [] and answer["stored"] == len(spans) + len(evals) + len(feedback)
        data[tenant] = {
            "traces": {s["trace_id"] for s in spans},
            "spans": {s["span_id"] for s in spans},
            "read": new_key(db, tenant, "read"),
            "spans_list": spans,
        }
    return data


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def populated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One collector per backend for this module, holding both tenants' data."""
    with database(request.param, tmp_path_factory.mktemp("query")) as db:
        with run_collector(ServerSettings(db=db, rate_limit=0, purge_interval_s=0)) as collector:
            yield collector.url, _populate(db, collector.url)


def _get(url: str, path: str, key: str, **params: Any) -> httpx.Response:
    return httpx.get(url + path, params=params, headers=auth(key))


# Each endpoint -> a function returning the trace ids and span ids the answer reveals.
def _traces(url: str, key: str, other: dict[str, Any]) -> tuple[set[str], set[str]]:
    answer = _get(url, "/v1/traces", key, limit=500).json()
    return {t["trace_id"] for t in answer["traces"]}, set()


def _trace_detail(url: str, key: str, other: dict[str, Any]) -> tuple[set[str], set[str]]:
    seen: set[str] = set()
    for trace_id in other["traces"]:
        answer = _get(url, f"/v1/traces/{trace_id}", key)
        assert answer.status_code == 404
        seen |= {s["trace_id"] for s in answer.json().get("spans", [])}
    return seen, set()


def _aggregates(url: str, key: str, other: dict[str, Any]) -> tuple[set[str], set[str]]:
    rows = _get(url, "/v1/stats/aggregates", key, group_by="model", **WINDOW).json()["rows"]
    return set(), {f"model:{r['group']}:{r['calls']}" for r in rows}


def _scores(url: str, key: str, other: dict[str, Any]) -> tuple[set[str], set[str]]:
    answer = _get(url, "/v1/stats/scores", key, **WINDOW).json()
    return set(), {f"count:{answer['count']}:{answer['null_count']}"}


def _worst(url: str, key: str, other: dict[str, Any]) -> tuple[set[str], set[str]]:
    traces, spans = set(), set()
    for metric in ("hallucination", "latency", "cost", "tokens"):
        items = _get(url, "/v1/stats/worst", key, metric=metric, limit=500, **WINDOW).json()["items"]
        traces |= {i["trace_id"] for i in items}
        spans |= {i["span_id"] for i in items}
    return traces, spans


def _feedback(url: str, key: str, other: dict[str, Any]) -> tuple[set[str], set[str]]:
    items = _get(url, "/v1/feedback", key, limit=500).json()["feedback"]
    return {f["trace_id"] for f in items}, set()


def _filtered(url: str, key: str, other: dict[str, Any]) -> tuple[set[str], set[str]]:
    other_user = next(s["attributes"]["user_id"] for s in other["spans_list"] if "user_id" in s["attributes"])
    answer = _get(url, "/v1/traces", key, user_id=other_user).json()
    return {t["trace_id"] for t in answer["traces"]}, set()


ENDPOINTS = {
    "traces": _traces,
    "traces-filtered-by-other-tenants-user": _filtered,
    "trace-detail": _trace_detail,
    "aggregates": _aggregates,
    "scores": _scores,
    "worst": _worst,
    "feedback": _feedback,
}


@pytest.mark.parametrize("reader", TENANTS)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_tenant_isolation_matrix(populated: tuple[str, dict[str, Any]], endpoint: str, reader: str) -> None:
    url, data = populated
    other = data["globex" if reader == "acme" else "acme"]
    traces, extra = ENDPOINTS[endpoint](url, data[reader]["read"], other)
    assert not traces & other["traces"], f"{reader} saw {other} traces via {endpoint}"
    assert not (extra & other["spans"])
    assert traces <= data[reader]["traces"]
    expected_extra = {
        "aggregates": {"acme": {"model:None:6", "model:gpt-4o:6"}, "globex": {"model:None:3", "model:claude-3:3"}},
        "scores": {"acme": {"count:2:1"}, "globex": {"count:2:1"}},
    }
    if endpoint in expected_extra:
        assert extra == expected_extra[endpoint][reader]
    elif endpoint in ("traces", "feedback"):
        assert traces == data[reader]["traces"]


def test_filters_select_traces_with_a_matching_span(populated: tuple[str, dict[str, Any]]) -> None:
    url, data = populated
    key = data["acme"]["read"]

    def ids(**params: Any) -> int:
        return len(_get(url, "/v1/traces", key, **params).json()["traces"])

    assert ids() == 6
    assert ids(name="openai.chat") == 3 and ids(name="anthropic") == 3 and ids(name="agent.run") == 6
    assert ids(status="error") == 1 and ids(model="gpt-4o") == 6 and ids(model="claude-3") == 0
    assert ids(feature="search") == 2 and ids(user_id="acme-u0") == 3
    assert ids(since="2026-11-27T09:30:00Z") == 3 and ids(until="2026-11-27T09:30:00Z") == 3


def test_trace_list_shape_and_pagination(populated: tuple[str, dict[str, Any]]) -> None:
    url, data = populated
    key = data["acme"]["read"]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        answer = _get(url, "/v1/traces", key, **params).json()
        seen += [t["trace_id"] for t in answer["traces"]]
        pages += 1
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and len(seen) == len(set(seen)) == 6 and set(seen) == data["acme"]["traces"]
    first = _get(url, "/v1/traces", key, limit=1).json()["traces"][0]
    assert first["name"] == "agent.run" and first["span_count"] == 2
    assert first["start_time"] == "2026-11-27T09:50:00.000000Z" and first["models"] == ["gpt-4o"]
    assert first["tokens_total"] == 40 and first["cost_usd"] == pytest.approx(0.006)


def test_bad_parameters_are_400_naming_the_parameter(populated: tuple[str, dict[str, Any]]) -> None:
    url, data = populated
    key = data["acme"]["read"]
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/v1/traces", {"limit": 0}, "limit"),
        ("/v1/traces", {"since": "last tuesday"}, "since"),
        ("/v1/traces", {"cursor": "garbage!"}, "cursor"),
        ("/v1/traces", {"status": "meh"}, "status"),
        ("/v1/traces/not-an-id", {}, "trace_id"),
        ("/v1/stats/aggregates", {"group_by": "colour"}, "group_by"),
        ("/v1/stats/aggregates", {"since": "2026-11-28T00:00:00Z", "until": "2026-11-27T00:00:00Z"}, "since"),
        ("/v1/stats/scores", {"metric": "bad metric!"}, "metric"),
        ("/v1/stats/worst", {"metric": "vibes"}, "metric"),
    ]
    for path, params, word in cases:
        answer = _get(url, path, key, **params)
        assert answer.status_code == 400, (path, params)
        assert word in answer.json()["error"]["message"] or word in answer.json()["error"]["code"], answer.json()
    assert _get(url, "/v1/traces/" + "0" * 32, key).status_code == 404


def test_aggregates_by_name_per_hour(populated: tuple[str, dict[str, Any]]) -> None:
    url, data = populated
    rows = _get(url, "/v1/stats/aggregates", data["acme"]["read"], group_by="name", interval="hour", **WINDOW).json()
    by_group = {(r["bucket"], r["group"]): r for r in rows["rows"]}
    assert set(by_group) == {
        ("2026-11-27T09:00:00Z", "agent.run"),
        ("2026-11-27T09:00:00Z", "anthropic.messages"),
        ("2026-11-27T09:00:00Z", "openai.chat.completions"),
    }
    anthropic = by_group[("2026-11-27T09:00:00Z", "anthropic.messages")]  # i = 1, 3, 5
    assert (anthropic["calls"], anthropic["errors"]) == (3, 1)
    assert anthropic["error_rate"] == pytest.approx(1 / 3)
    # Percentiles come from the latency histogram: within LATENCY_REL_ERROR of percentile_cont.
    estimates = (anthropic["p50_ms"], anthropic["p95_ms"], anthropic["p99_ms"])
    assert estimates == pytest.approx((400.0, 580.0, 596.0), rel=LATENCY_REL_ERROR)
    assert anthropic["tokens_output"] == 10 + 20 + 30 and anthropic["cost_usd"] == pytest.approx(0.012)


def test_score_distribution_and_worst_offenders(populated: tuple[str, dict[str, Any]]) -> None:
    url, data = populated
    key = data["acme"]["read"]
    dist = _get(url, "/v1/stats/scores", key, bins=5, **WINDOW).json()
    assert [b["count"] for b in dist["bins"]] == [1, 0, 0, 0, 1]
    assert (dist["count"], dist["null_count"], dist["mean"]) == (2, 1, pytest.approx(0.5))
    worst = _get(url, "/v1/stats/worst", key, metric="hallucination", **WINDOW).json()["items"]
    assert [w["value"] for w in worst] == [0.1, 0.9]
    slowest = _get(url, "/v1/stats/worst", key, metric="latency", limit=2, **WINDOW).json()["items"]
    assert [w["value"] for w in slowest] == [600.0, 500.0]
    costly = _get(url, "/v1/stats/worst", key, metric="cost", limit=1, **WINDOW).json()["items"]
    assert costly[0]["value"] == pytest.approx(0.006) and costly[0]["model"] == "gpt-4o"


def test_feedback_listing_filter_and_pagination(populated: tuple[str, dict[str, Any]]) -> None:
    url, data = populated
    key = data["acme"]["read"]
    bad = _get(url, "/v1/feedback", key, rating="bad").json()["feedback"]
    assert len(bad) == 3 and {f["rating"] for f in bad} == {"bad"}
    page = _get(url, "/v1/feedback", key, limit=4).json()
    rest = _get(url, "/v1/feedback", key, limit=4, cursor=page["next_cursor"]).json()
    assert rest["next_cursor"] is None
    created = [f["created_at"] for f in page["feedback"] + rest["feedback"]]
    assert len(created) == 6 and created == sorted(created, reverse=True)


def test_openapi_document_is_published(populated: tuple[str, dict[str, Any]]) -> None:
    url, _ = populated
    doc = httpx.get(url + "/openapi.json").json()
    assert {"/v1/ingest", "/v1/traces", "/v1/traces/{trace_id}", "/v1/stats/aggregates", "/v1/stats/scores",
            "/v1/stats/worst", "/v1/feedback"} <= set(doc["paths"])  # fmt: skip
    ingest = doc["paths"]["/v1/ingest"]["post"]
    assert "spans" in str(ingest["requestBody"]) and {"401", "413", "429"} <= set(ingest["responses"])
    assert httpx.get(url + "/healthz").json()["status"] == "ok"
