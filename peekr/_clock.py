"""One clock for span timestamps: wall-clock times derived from ``time.perf_counter_ns()``.

A span reads one clock when it starts and once when it ends. Reading the wall clock and the
performance counter separately lets a thread lose the GIL between the two reads, and the span's
wall-clock start then disagrees with its duration by that gap: a child could appear to start after
its parent had ended. So the caller reads only the performance counter, and the bus thread turns
that reading into wall-clock time through one shared anchor (a wall-clock/perf-counter pair).

The anchor is renewed when it is over a minute old and the wall clock has moved away from it by
more than a millisecond (an NTP step), so timestamps follow the system clock without jitter.
"""

from __future__ import annotations

import threading
import time

__all__ = ["iso_utc", "wall_ns"]

_RENEW_AFTER_NS = 60_000_000_000
_TOLERANCE_NS = 1_000_000
_lock = threading.Lock()


def _read_pair() -> tuple[int, int]:
    """A (wall, perf) pair read as close together as this thread manages (best of three)."""
    pairs = []
    for _ in range(3):
        before = time.perf_counter_ns()
        wall = time.time_ns()
        after = time.perf_counter_ns()
        pairs.append((after - before, wall, (before + after) // 2))
    _, wall, perf = min(pairs)
    return wall, perf


_anchor: tuple[int, int] = _read_pair()  # (wall, perf), replaced whole so readers never see half of it


def wall_ns(perf_ns: int) -> int:
    """The wall-clock time (ns since the epoch) at which ``time.perf_counter_ns()`` read ``perf_ns``."""
    global _anchor
    anchor_wall, anchor_perf = _anchor
    if perf_ns - anchor_perf > _RENEW_AFTER_NS:
        with _lock:
            anchor_wall, anchor_perf = _anchor
            if perf_ns - anchor_perf > _RENEW_AFTER_NS:
                wall, perf = _read_pair()
                predicted = anchor_wall + (perf - anchor_perf)
                # Follow a stepped system clock; otherwise keep the same line from a newer origin.
                _anchor = (wall, perf) if abs(wall - predicted) > _TOLERANCE_NS else (predicted, perf)
                anchor_wall, anchor_perf = _anchor
    return anchor_wall + (perf_ns - anchor_perf)


#: ".000" ... ".999" and "000Z" ... "999Z": a timestamp's fraction is two lookups, not a format.
_MILLIS = tuple(f".{i:03d}" for i in range(1000))
_MICROS_Z = tuple(f"{i:03d}Z" for i in range(1000))
#: (the first µs of the cached second, its "YYYY-MM-DDTHH:MM:SS" prefix).
_second_prefix: tuple[int, str] = (-(2**62), "")


def iso_utc(ns: int) -> str:
    """Format a ``time.time_ns()`` value as ``2026-11-27T09:21:10.123456Z``.

    The date-and-second prefix is cached (one ``gmtime`` per second, not per call) and the
    fraction comes from two tables: this runs twice for every span on the bus thread.
    """
    global _second_prefix
    us = ns // 1000
    start, prefix = _second_prefix  # one tuple: read and written atomically
    offset = us - start
    if not 0 <= offset < 1_000_000:
        secs = us // 1_000_000
        t = time.gmtime(secs)
        prefix = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        start = secs * 1_000_000
        _second_prefix = (start, prefix)
        offset = us - start
    return f"{prefix}{_MILLIS[offset // 1000]}{_MICROS_Z[offset % 1000]}"
