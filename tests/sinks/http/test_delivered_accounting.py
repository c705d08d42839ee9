"""peekr.stats() for an exporter: delivered is what the collector took; spooled and rejected apart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from collector_helpers import auth
from exporter_helpers import start

import peekr
from peekr.server._testing import free_port
from peekr.sinks.http import HTTPExporter


def _stored(url: str, read: str) -> int:
    window = {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    rows = httpx.get(url + "/v1/stats/aggregates", params=window, headers=auth(read)).json()["rows"]
    return sum(r["calls"] for r in rows)


def test_spooled_and_rejected_records_are_not_counted_as_delivered(
    collector_db: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    key, read = keys
    port = free_port()
    exporter = HTTPExporter(f"http://127.0.0.1:{port}", key, retry_deadline=0.5, spool_dir=tmp_path / "spool")
    exporter._retry.initial_backoff = 0.05
    peekr.instrument(storage="none", exporter=exporter, flush_interval=0.05, batch_size=50)
    for i in range(300):
        # every 15th span carries a token count the collector refuses as invalid
        with peekr.span("work", i=i, tokens_input="lots" if i % 15 == 0 else 7):
            pass
        if i % 100 == 0:
            time.sleep(0.2)
    assert peekr.flush(timeout=10)
    stats = peekr.stats()
    assert stats.delivered.get("http", 0) == 0  # the collector is down: nothing was delivered
    assert stats.spooled == {"http": 300} and stats.dropped_total == 0

    faults, ctx = start(collector_db, port=port)
    with ctx as running:
        assert peekr.flush(timeout=10)
        stats = peekr.stats()
        assert _stored(running.url, read) == 280
        assert stats.delivered["http"] == 280
        assert stats.rejected == {"http": 20} and stats.dropped == {("http", "rejected"): 20}
        assert stats.spooled == {"http": 0}
        assert stats.published == stats.delivered["http"] + stats.dropped_total + stats.spooled["http"]
        peekr.shutdown(timeout=5)


def test_duplicates_of_a_retried_batch_count_as_delivered_once_each(collector_db: str, keys: tuple[str, str]) -> None:
    key, read = keys
    faults, ctx = start(collector_db)
    with ctx as running:
        faults.plan.extend(["slow"])  # the first answer comes after the client gave up: sent again
        faults.delay = 1.5
        exporter = HTTPExporter(running.url, key, timeout=0.5)
        exporter._retry.initial_backoff = 0.05
        peekr.instrument(storage="none", exporter=exporter)
        for i in range(10):
            with peekr.span("work", i=i):
                pass
        assert peekr.flush(timeout=15)
        assert _stored(running.url, read) == 10
        assert peekr.stats().delivered["http"] == 10 and peekr.stats().dropped_total == 0
        peekr.shutdown(timeout=5)
