"""The real HTTPExporter against a real collector over real HTTP (asyncio and trio)."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from collector_helpers import WINDOW, auth, make_span
from exporter_helpers import Collector, start

from peekr._context import is_suppressed
from peekr._events import EvalResult, Feedback
from peekr._span import Span
from peekr.server._testing import free_port
from peekr.sinks.http import HTTPExporter, encode_batch, parse_retry_after

pytestmark = pytest.mark.anyio


async def _get(url: str, key: str, **params: object) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url, params=params, headers=auth(key))  # type: ignore[arg-type]


async def _stored(url: str, read_key: str) -> int:
    rows = (await _get(url + "/v1/stats/aggregates", read_key, **WINDOW)).json()["rows"]
    return sum(r["calls"] for r in rows)


async def _count(collector: Collector) -> int:
    return await _stored(collector.url, collector.read_key)


def _spans(n: int, **attrs: Any) -> list[Span]:
    return [make_span(model="gpt-4o", **attrs) for _ in range(n)]


async def test_spans_eval_results_and_feedback_arrive_gzipped_on_one_connection(collector: Collector) -> None:
    spans = _spans(30, input="hello " * 100)
    result = EvalResult(span_id=spans[0].span_id, trace_id=spans[0].trace_id, evaluator="hallucination",
                        scores={"hallucination": 0.4}, created_at="2026-11-27T09:00:05Z")  # fmt: skip
    fb = Feedback(trace_id=spans[0].trace_id, rating="bad", note="wrong", created_at="2026-11-27T09:00:06Z")
    exporter = HTTPExporter(collector.url, collector.key, max_batch_size=10)
    await exporter.write([*spans, result, fb])
    await exporter.write(_spans(5))
    await exporter.flush()
    await exporter.aclose()
    assert exporter.exported == 37 and exporter.dropped == {}
    # Bodies of 1 KiB and more are gzipped; the small eval+feedback request is not worth it.
    assert collector.faults.requests == 5 and collector.faults.encodings == ["gzip", "gzip", "gzip", "identity", "gzip"]
    assert len(collector.faults.client_ports) == 1  # keep-alive: one connection for every request
    trace = (await _get(f"{collector.url}/v1/traces/{spans[0].trace_id}", collector.read_key)).json()
    assert trace["spans"][0]["attributes"]["eval_scores"] == {"hallucination": 0.4}
    assert trace["feedback"][0]["note"] == "wrong"
    assert await _count(collector) == 35


async def test_exporter_http_calls_run_with_instrumentation_suppressed(collector: Collector) -> None:
    seen: list[bool] = []

    class Spy(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(is_suppressed())
            return await super().handle_async_request(request)

    exporter = HTTPExporter(collector.url, collector.key, transport=Spy())
    await exporter.write(_spans(3))
    await exporter.aclose()
    assert seen == [True] and await _count(collector) == 3


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_honoured(collector: Collector, status: int) -> None:
    collector.faults.plan.extend([status])
    collector.faults.headers[status] = {"Retry-After": "1"}
    exporter = HTTPExporter(collector.url, collector.key)
    started = time.monotonic()
    await exporter.write(_spans(4))
    await exporter.aclose()
    assert time.monotonic() - started >= 0.95
    assert collector.faults.requests == 2 and await _count(collector) == 4 and exporter.dropped == {}


async def test_retry_after_http_date_is_honoured(collector: Collector) -> None:
    when = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
    collector.faults.plan.extend([503])
    collector.faults.headers[503] = {"Retry-After": format_datetime(when, usegmt=True)}
    exporter = HTTPExporter(collector.url, collector.key)
    await exporter.write(_spans(2))
    await exporter.aclose()
    assert datetime.now(timezone.utc) >= when - timedelta(milliseconds=50)
    assert collector.faults.requests == 2 and await _count(collector) == 2


async def test_502_504_and_connection_errors_back_off_then_succeed(collector: Collector) -> None:
    collector.faults.plan.extend([502, 504, 503])
    exporter = HTTPExporter(collector.url, collector.key)
    exporter._retry.initial_backoff = 0.05
    await exporter.write(_spans(3))
    await exporter.aclose()
    assert collector.faults.requests == 4 and await _count(collector) == 3 and exporter._retry.retries == 3


async def test_500_and_other_4xx_are_not_retried(collector: Collector) -> None:
    collector.faults.plan.extend([500, 422])
    exporter = HTTPExporter(collector.url, collector.key)
    await exporter.write(_spans(2))
    await exporter.write(_spans(3))
    await exporter.aclose()
    assert collector.faults.requests == 2 and exporter.dropped == {"http_500": 2, "http_422": 3}


async def test_wrong_key_is_never_retried_and_logged_once(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = HTTPExporter(collector.url, "pk_live_000000000000_" + "x" * 43)
    with caplog.at_level(logging.ERROR, logger="peekr"):
        for _ in range(3):
            await exporter.write(_spans(2))
    await exporter.aclose()
    assert collector.faults.requests == 3 and exporter.dropped == {"http_401": 6}
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "401" in errors[0] and "API key is invalid or revoked" in errors[0]


async def test_read_only_key_is_403_and_not_retried(collector: Collector, caplog: pytest.LogCaptureFixture) -> None:
    exporter = HTTPExporter(collector.url, collector.read_key)
    with caplog.at_level(logging.ERROR, logger="peekr"):
        await exporter.write(_spans(2))
    await exporter.aclose()
    assert collector.faults.requests == 1 and exporter.dropped == {"http_403": 2}
    assert "ingest" in caplog.text and await _count(collector) == 0


async def test_413_splits_the_batch_until_it_fits(collector_db: str, keys: tuple[str, str]) -> None:
    key, read = keys
    faults, ctx = start(collector_db, max_body_bytes=20_000)
    with ctx as running:
        exporter = HTTPExporter(running.url, key, compress=False)
        spans = _spans(16, input="x" * 3000)  # ~55 KB in one request: needs pieces of <= 4 spans
        huge = make_span(input="y" * 50_000)
        await exporter.write([*spans, huge])
        await exporter.aclose()
        assert await _stored(running.url, read) == 16
        assert exporter.dropped == {"too_large": 1} and faults.requests > 5


async def test_partial_success_counts_rejected_records(collector: Collector, caplog: pytest.LogCaptureFixture) -> None:
    good = _spans(3)
    bad = make_span()
    bad.attributes["tokens_input"] = "lots"  # type: ignore[typeddict-item]  # only the collector validates it
    exporter = HTTPExporter(collector.url, collector.key)
    with caplog.at_level(logging.WARNING, logger="peekr"):
        await exporter.write([*good, bad])
    await exporter.aclose()
    assert exporter.exported == 3 and exporter.dropped == {"rejected": 1}
    assert "tokens_input" in caplog.text and await _count(collector) == 3


async def test_slow_collector_is_retried_and_the_batch_stored_once(collector: Collector) -> None:
    collector.faults.plan.extend(["slow"])
    collector.faults.delay = 1.5
    exporter = HTTPExporter(collector.url, collector.key, timeout=0.5)
    exporter._retry.initial_backoff = 0.05
    await exporter.write(_spans(5))
    await exporter.aclose()
    assert collector.faults.requests >= 2 and exporter.dropped == {}
    await anyio.sleep(1.2)  # let the slow first request finish on the server
    assert await _count(collector) == 5


async def test_collector_down_without_spool_drops_and_counts(tmp_path: Path) -> None:
    exporter = HTTPExporter(f"http://127.0.0.1:{free_port()}", "pk_live_000000000000_x", retry_deadline=0.3)
    exporter._retry.initial_backoff = 0.05
    await exporter.write(_spans(7))
    await exporter.aclose()
    assert exporter.dropped == {"timeout": 7}


async def test_restart_during_outage_loses_nothing_with_a_spool(
    collector_db: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    key, read = keys
    port, spool = free_port(), tmp_path / "spool"
    first = HTTPExporter(f"http://127.0.0.1:{port}", key, retry_deadline=0.3, spool_dir=spool)
    first._retry.initial_backoff = 0.05
    for _ in range(4):
        await first.write(_spans(25))
    await first.aclose()  # the app stops while the collector is still down
    assert first.spooled == 100 and first.dropped == {} and len(list(spool.iterdir())) == 4

    faults, ctx = start(collector_db, port=port)
    with ctx as running:
        second = HTTPExporter(running.url, key, spool_dir=spool)  # the app restarts
        await second.write(_spans(5))
        await second.flush(10)
        await second.aclose()
        assert await _stored(running.url, read) == 105 and second.spooled == 0 and second.exported == 105


async def test_spool_is_bounded_oldest_dropped_and_counted(
    collector_db: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    key, read = keys
    port, spool = free_port(), tmp_path / "spool"
    exporter = HTTPExporter(
        f"http://127.0.0.1:{port}", key, retry_deadline=0.2, spool_dir=spool, spool_max_bytes=12_000
    )
    exporter._retry.initial_backoff = 0.05
    batches = [[make_span(input=secrets.token_hex(200)) for _ in range(10)] for _ in range(10)]  # ~5 KB gzipped
    for batch in batches:
        await exporter.write(batch)
    dropped = exporter.dropped.get("spool_full", 0)
    assert dropped > 0 and dropped % 10 == 0 and exporter.spooled == 100 - dropped
    faults, ctx = start(collector_db, port=port)
    with ctx as running:
        await exporter.flush(10)
        await exporter.aclose()
        stored = await _stored(running.url, read)
        # The oldest batches were dropped, the newest survived.
        found = [(await _get(f"{running.url}/v1/traces/{b[0].trace_id}", read)).status_code == 200 for b in batches]
    assert stored + dropped == 100
    assert found == [False] * (dropped // 10) + [True] * (10 - dropped // 10)


def test_retry_after_parsing() -> None:
    now = datetime(2026, 11, 27, 9, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after("0.5", now) == 0.5
    assert parse_retry_after("Fri, 27 Nov 2026 09:00:10 GMT", now) == 10.0
    assert parse_retry_after("Fri, 27 Nov 2026 08:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_bad_arguments_name_the_value() -> None:
    with pytest.raises(ValueError, match="endpoint='peekr.example.com'"):
        HTTPExporter("peekr.example.com", "pk_live_x")
    with pytest.raises(ValueError, match="api_key"):
        HTTPExporter("https://peekr.example.com", "")
    with pytest.raises(ValueError, match="retry_deadline=0"):
        HTTPExporter("https://peekr.example.com", "k", retry_deadline=0)
    with pytest.raises(ValueError, match="max_batch_size"):
        HTTPExporter("https://peekr.example.com", "k", max_batch_size=0)


def test_wire_body_has_one_array_per_record_kind() -> None:
    span = make_span()
    import json

    body = json.loads(
        encode_batch([span, Feedback(trace_id=span.trace_id, rating="good", created_at="2026-11-27T09:00:00Z")])
    )
    assert body["version"] == 1 and len(body["spans"]) == 1 and body["eval_results"] == []
    assert body["feedback"][0]["record"] == "feedback"


async def test_write_cancelled_mid_request_is_spooled_not_lost(collector: Collector, tmp_path: Path) -> None:
    collector.faults.plan.extend(["slow"])
    collector.faults.delay = 3.0
    spool = tmp_path / "spool"
    exporter = HTTPExporter(collector.url, collector.key, spool_dir=spool)
    batch = _spans(6)
    with anyio.move_on_after(0.3):  # e.g. shutdown's deadline runs out while the collector is slow
        await exporter.write(batch)
    assert exporter.spooled == 6
    await exporter.flush(10)  # replayed: the collector keeps one copy even if the slow request lands too
    await exporter.aclose()
    await anyio.sleep(3)
    assert exporter.spooled == 0 and await _count(collector) == 6


async def test_an_endpoint_that_is_not_a_collector_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>welcome to nginx</html>")

    exporter = HTTPExporter("https://example.invalid", "k", transport=httpx.MockTransport(handler))
    with caplog.at_level(logging.ERROR, logger="peekr"):
        await exporter.write(_spans(2))
        await exporter.write(_spans(1))
    await exporter.aclose()
    assert exporter.dropped == {"bad_response": 3} and exporter.exported == 0
    assert caplog.text.count("not like a Peekr collector") == 1


async def test_while_the_collector_is_down_batches_go_straight_to_the_spool(
    collector_db: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    key, read = keys
    port = free_port()
    exporter = HTTPExporter(f"http://127.0.0.1:{port}", key, retry_deadline=3, spool_dir=tmp_path / "spool")
    exporter._retry.initial_backoff = 0.05
    exporter.probe_deadline = 0.2
    assert exporter._spool is not None
    exporter._spool.probe_interval = 0  # probe on every write
    await exporter.write(_spans(5))  # the first failure waits out the retry deadline
    started = time.monotonic()
    for _ in range(5):
        await exporter.write(_spans(5))
    assert time.monotonic() - started < 2.5  # not 5 x 3 s: spooled at once, quick probes only
    assert exporter.spooled == 30 and exporter.dropped == {}
    faults, ctx = start(collector_db, port=port)
    with ctx as running:
        await exporter.write(_spans(5))  # the probe succeeds, the spool is replayed
        await exporter.aclose()
        assert await _stored(running.url, read) == 35 and exporter.spooled == 0
