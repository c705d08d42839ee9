"""End to end: peekr.instrument(exporter=HTTPExporter(...)) -> bus -> real collector."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from collector_helpers import auth
from exporter_helpers import start

import peekr
from peekr._events import EvalResult
from peekr._runtime import get_runtime
from peekr.server._testing import free_port
from peekr.sinks.http import HTTPExporter


def _stored(url: str, read: str) -> int:
    since = {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    rows = httpx.get(url + "/v1/stats/aggregates", params=since, headers=auth(read)).json()["rows"]
    return sum(r["calls"] for r in rows)


def test_spans_eval_results_and_feedback_flow_from_instrument_to_the_collector(
    collector_db: str, keys: tuple[str, str]
) -> None:
    key, read = keys
    faults, ctx = start(collector_db)
    with ctx as running:
        peekr.instrument(storage="none", exporter=HTTPExporter(running.url, key), tenant_id="ignored-by-server")
        with peekr.span("agent.run", feature="search") as root:
            with peekr.span("retrieval"):
                pass
        runtime = get_runtime()
        assert runtime is not None
        runtime.publish(
            EvalResult(span_id=root.span_id, trace_id=root.trace_id, evaluator="hallucination",
                       scores={"hallucination": 0.75}, created_at="2026-11-27T09:00:00Z")
        )  # fmt: skip
        peekr.feedback(trace_id=root.trace_id, rating="good", note="spot on")
        assert peekr.flush(timeout=10)
        trace = httpx.get(f"{running.url}/v1/traces/{root.trace_id}", headers=auth(read)).json()
        names = {s["name"]: s for s in trace["spans"]}
        assert set(names) == {"agent.run", "retrieval"}
        assert names["agent.run"]["attributes"]["eval_scores"] == {"hallucination": 0.75}
        assert names["agent.run"]["tenant_id"] == "acme"  # the key's tenant, not the app's claim
        assert trace["feedback"][0]["note"] == "spot on"
        assert peekr.stats().dropped_total == 0
        peekr.shutdown(timeout=5)


def test_outage_with_503_and_429_then_recovery_stores_what_the_queue_held_and_counts_the_rest(
    collector_db: str, keys: tuple[str, str]
) -> None:
    key, read = keys
    faults, ctx = start(collector_db)
    with ctx as running:
        faults.fail_until = float("inf")  # 503 to everything until the app has published it all
        faults.headers[429] = {"Retry-After": "1"}
        exporter = HTTPExporter(running.url, key, retry_deadline=30)
        exporter._retry.initial_backoff = 0.1
        peekr.instrument(storage="none", exporter=exporter, queue_size=1000, batch_size=100, flush_interval=0.05)
        total = 6000
        for i in range(total):
            with peekr.span("work", i=i):
                pass
        faults.plan.append(429)  # recovering: one more refusal, with Retry-After
        faults.fail_until = 0.0
        assert peekr.flush(timeout=30)
        stats = peekr.stats()
        stored = _stored(running.url, read)
        dropped = stats.dropped_total
        # how many survive depends on scheduling; what must hold is the accounting: every
        # published span is stored (and counted delivered) or counted as dropped, none vanish
        refused = stats.dropped.get(("bus", "queue_full"), 0)  # never made it into the bus
        assert stats.published + refused == total
        assert stored + dropped == total, (stored, dict(stats.dropped))
        assert stats.delivered["http"] == stored > 0
        assert dropped > 0 and {reason for _, reason in stats.dropped} <= {"queue_full"}
        peekr.shutdown(timeout=5)


def test_collector_down_at_start_with_spool_loses_nothing(
    collector_db: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    key, read = keys
    port = free_port()
    exporter = HTTPExporter(f"http://127.0.0.1:{port}", key, retry_deadline=0.5, spool_dir=tmp_path / "spool")
    exporter._retry.initial_backoff = 0.05
    peekr.instrument(storage="none", exporter=exporter, flush_interval=0.05)
    for i in range(300):
        with peekr.span("work", i=i):
            pass
        if i % 100 == 0:
            time.sleep(0.3)
    assert peekr.flush(timeout=10)
    assert exporter.spooled == 300 and peekr.stats().dropped_total == 0
    faults, ctx = start(collector_db, port=port)
    with ctx as running:
        assert peekr.flush(timeout=10)
        assert _stored(running.url, read) == 300 and exporter.spooled == 0
        peekr.shutdown(timeout=5)
