"""Retention: the collector purges by retention class, on a schedule, with the CLI's defaults."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import anyio
import httpx
from collector_helpers import auth, body, eval_record, feedback_record, new_key, span_record

from peekr._retention import DEFAULT_RETENTION_DAYS
from peekr.server._backends import open_store
from peekr.server._purge import purge_once


def _ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


def test_scheduled_purge_deletes_by_retention_class(start_collector, db: str) -> None:
    assert DEFAULT_RETENTION_DAYS == {"pii": 1, "short": 7, "default": 30, "long": 365}
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    keep = {
        "pii": span_record(retention_class="pii", start=_ago(0.5)),
        "short": span_record(retention_class="short", start=_ago(6)),
        "default": span_record(retention_class="default", start=_ago(29)),
        "long": span_record(retention_class="long", start=_ago(300)),
    }
    expire = {
        "pii": span_record(retention_class="pii", start=_ago(2)),
        "short": span_record(retention_class="short", start=_ago(8)),
        "default": span_record(retention_class="default", start=_ago(31)),
        "long": span_record(retention_class="long", start=_ago(400)),
    }
    old_eval = eval_record(expire["pii"], 0.1, attributes={"hallucination_details": [{"claim": "secret"}]})
    old_feedback = feedback_record(expire["default"]["trace_id"], note="private note", at=_ago(40))
    spans = [*keep.values(), *expire.values()]
    with start_collector(purge_interval_s=0) as collector:
        answer = httpx.post(
            collector.url + "/v1/ingest", json=body(spans, [old_eval], [old_feedback]), headers=auth(key)
        ).json()
        assert answer["stored"] == 10
    # A restart with the schedule on purges at once, then every purge_interval_s.
    with start_collector(purge_interval_s=3600) as collector:
        deadline = time.monotonic() + 10
        while True:
            listed = httpx.get(
                collector.url + "/v1/traces", params={"since": "2020-01-01T00:00:00Z", "limit": 100}, headers=auth(read)
            ).json()["traces"]
            if len(listed) == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert {t["trace_id"] for t in listed} == {s["trace_id"] for s in keep.values()}
        gone = httpx.get(f"{collector.url}/v1/traces/{expire['pii']['trace_id']}", headers=auth(read))
        assert gone.status_code == 404  # the span, its eval result (pii details) and feedback are gone
        gone = httpx.get(f"{collector.url}/v1/traces/{expire['default']['trace_id']}", headers=auth(read))
        assert gone.status_code == 404


def test_purge_once_honours_overrides(db: str) -> None:
    async def main() -> int:
        store = open_store(db)
        await store.open()
        try:
            from peekr._span import Span

            span = Span.model_validate(span_record(start=_ago(3)))
            await store.ingest("acme", [span], [], [])
            assert await purge_once(store, {"default": 5}) == 0
            return await purge_once(store, {"default": 2})
        finally:
            await store.close()

    assert anyio.run(main) == 1
