"""Per-key request rate limit: a token bucket per API key, kept in this process.

Each collector process limits on its own, so with N workers behind a load balancer a key may
reach up to N times the rate; size ``rate_limit`` per process (documented in docs/server.md).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets keyed by API key id; the table is bounded (least recently used evicted)."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def acquire(self, key: str, now: float | None = None) -> float:
        """Take one token; return 0 if allowed, else the seconds to wait before the next try."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after_header(wait: float) -> str:
        """Whole seconds, rounded up, as ``Retry-After`` requires."""
        return str(max(1, math.ceil(wait)))
