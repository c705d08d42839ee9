"""Trace and span ids Peekr starts: a time tick first (so each id index grows in one place), random bits after."""

from __future__ import annotations

import time
from collections import Counter

import peekr
from peekr._sampling import ratio_keeps
from peekr._span import new_span_id, new_trace_id
from peekr.testing import capture_spans


def _tick(ns: int) -> int:
    return ns >> 20 & 0xFFFF


def test_trace_and_span_ids_start_with_the_time_tick_they_were_started_in() -> None:
    with capture_spans() as sink:
        for i in range(5):
            before = _tick(time.time_ns())
            with peekr.span(f"root-{i}"):
                pass
            after = _tick(time.time_ns())
            time.sleep(0.003)
            [span] = [s for s in sink.wait_for_spans(i + 1, timeout=10) if s.name == f"root-{i}"]
            for tick in (int(span.trace_id[:4], 16), int(span.span_id[:4], 16)):
                assert (tick - before) % 0x10000 <= (after - before) % 0x10000, (span.trace_id, span.span_id, before)
    ticks = [int(span.trace_id[:4], 16) for span in sorted(sink.spans, key=lambda span: span.name)]
    assert len(set(ticks)) == 5, "traces started milliseconds apart must land in different ticks"


def test_the_right_most_112_bits_stay_random_for_short_ids_and_sampling() -> None:
    ids = [new_trace_id() for _ in range(8000)]
    assert all(len(trace_id) == 32 and int(trace_id, 16) for trace_id in ids)
    assert len({trace_id[:16] for trace_id in ids}) == len(ids), "ids of the same moment must differ early"
    kept = sum(ratio_keeps(trace_id, 0.25) for trace_id in ids)
    assert 0.22 * len(ids) < kept < 0.28 * len(ids), kept
    first_random_digit = Counter(trace_id[4] for trace_id in ids)  # also among ids of the same tick
    assert set(first_random_digit) == set("0123456789abcdef")
    assert max(first_random_digit.values()) < 2 * min(first_random_digit.values())


def test_span_ids_of_the_same_moment_differ_in_their_48_random_bits() -> None:
    ids = [new_span_id() for _ in range(8000)]
    assert all(len(span_id) == 16 and int(span_id, 16) for span_id in ids)
    assert len(set(ids)) == len(ids)
    first_random_digit = Counter(span_id[4] for span_id in ids)
    assert set(first_random_digit) == set("0123456789abcdef")
