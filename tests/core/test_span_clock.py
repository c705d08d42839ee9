"""Span timestamps: a child never starts before or ends after its parent, whatever the threads do."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

import peekr
from peekr.testing import capture_spans


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Threads switch as often as the interpreter allows, so a thread can lose the GIL anywhere."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def test_children_lie_inside_their_parents_across_busy_threads(busy_switching: None) -> None:
    def work() -> None:
        for _ in range(300):
            with peekr.span("parent"), peekr.span("child"):
                pass

    with capture_spans() as sink:
        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert peekr.flush(timeout=30)
    spans = {s.span_id: s for s in sink.spans}
    children = [s for s in spans.values() if s.name == "child"]
    assert len(children) == 1800
    outside = [
        (c.start_time, c.end_time, p.start_time, p.end_time)
        for c in children
        for p in [spans[c.parent_id]]  # type: ignore[index]
        if not (p.start_time <= c.start_time and c.end_time <= p.end_time)
    ]
    assert not outside, f"{len(outside)} children outside their parent, e.g. {outside[:3]}"
    for s in spans.values():  # the duration is the distance between the two timestamps (to the microsecond)
        assert s.duration_ms >= 0


def test_span_times_are_wall_clock_times() -> None:
    with capture_spans() as sink:
        before = time.time_ns()
        with peekr.span("now"):
            pass
        after = time.time_ns()
        assert peekr.flush(timeout=10)
    (span,) = sink.spans
    start = datetime.fromisoformat(span.start_time.replace("Z", "+00:00")).timestamp() * 1e9
    assert before - 2e6 <= start <= after + 2e6  # within the clocks' agreement (2 ms)


def test_iso_utc_formats_any_time_like_datetime() -> None:
    """Span timestamps (``iso_utc``) across second boundaries, in any order, before 1970 and far ahead."""
    from datetime import timedelta, timezone

    from peekr._clock import iso_utc

    now = time.time_ns()
    values = [now, now + 1_000, now - 1_000, 0, 999, 1_000, -1, -1_000, -1_000_000_001, 253402300799_999_999_999]
    values += [now // 10**9 * 10**9 + d for d in (-1_001, -1, 0, 999, 1_000, 999_999_999, 1_000_000_000)]
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    for ns in values + values[::-1]:
        expected = (epoch + timedelta(microseconds=ns // 1000)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert iso_utc(ns) == expected, ns
