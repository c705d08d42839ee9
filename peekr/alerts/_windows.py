"""Sliding windows of span statistics: time buckets that rules add up over their window.

A series keeps the buckets of one rule and one group (a model, a tenant...). Buckets are
``width`` seconds wide; buckets older than the series' ``span`` seconds fall off, so memory per
series is bounded by ``span / width`` buckets (at most a few hundred).
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["Bucket", "Series", "latency_bin", "percentile"]

#: Latency histogram: bin i holds durations in [1.1**(i-1), 1.1**i) ms; 0 holds < 1 ms. 1 h -> bin 159.
_RATIO = math.log(1.1)
_MAX_BIN = 200


def latency_bin(duration_ms: float) -> int:
    """The histogram bin of a duration (relative error of a percentile ≤ 10 %)."""
    if duration_ms < 1.0:
        return 0
    return min(_MAX_BIN, 1 + int(math.log(duration_ms) / _RATIO))


def _bin_value(index: int) -> float:
    return 0.5 if index == 0 else 1.1**index  # the bin's upper edge: a percentile is never understated


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """The ``fraction`` percentile (0.95) of a merged histogram, or None when it is empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = math.ceil(fraction * total)
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return _bin_value(index)
    return _bin_value(max(histogram))


class Bucket:
    """What happened in one time bucket."""

    __slots__ = ("calls", "cost", "errors", "latency", "score_n", "score_sum", "start", "tokens")

    def __init__(self, start: float) -> None:
        self.start = start
        self.calls = 0
        self.errors = 0
        self.cost = 0.0
        self.tokens = 0
        self.latency: dict[int, int] = {}
        self.score_n = 0
        self.score_sum = 0.0


class Series:
    """The buckets of one rule and group, newest last."""

    __slots__ = ("buckets", "span", "width")

    def __init__(self, width: float, span: float) -> None:
        self.width = width
        self.span = span
        self.buckets: deque[Bucket] = deque()

    def bucket(self, now: float) -> Bucket:
        """The bucket ``now`` falls in (created if needed); old buckets are dropped."""
        start = now - now % self.width
        buckets = self.buckets
        if buckets and buckets[-1].start >= start:
            return buckets[-1]  # same bucket (or a clock that stepped back: count it in the newest)
        bucket = Bucket(start)
        buckets.append(bucket)
        self.expire(now)
        return bucket

    def expire(self, now: float) -> None:
        """Drop buckets that ended more than ``span`` seconds ago."""
        cutoff = now - self.span
        buckets = self.buckets
        while buckets and buckets[0].start + self.width <= cutoff:
            buckets.popleft()

    def between(self, start: float, end: float) -> list[Bucket]:
        """Buckets that began in ``[start, end)``."""
        return [b for b in self.buckets if start <= b.start < end]
