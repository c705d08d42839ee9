"""Token-bucket rate limits kept in this process: failed authentications per client address.

A ``RateLimiter`` also carries the per-key rate and burst, but the per-key buckets live in the
database (``Store.take_token``) so that every collector process shares them. The failure
limiter stays per process: with N workers an address may fail up to N times as often.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict

__all__ = ["RateLimiter", "client_bucket"]


class RateLimiter:
    """Token buckets by key; the table is bounded (least recently used evicted)."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, key: str, now: float | None = None) -> float:
        """Take one token; return 0 if allowed, else the seconds to wait before the next try."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens = self._tokens(self._buckets.pop(key, None), now)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    def peek(self, key: str, now: float | None = None) -> float:
        """The seconds until ``key`` has a token again (0 if it has one now); takes nothing."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens = self._tokens(self._buckets.get(key), now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _tokens(self, bucket: tuple[float, float] | None, now: float) -> float:
        if bucket is None:
            return float(self.burst)
        tokens, last = bucket
        return min(float(self.burst), tokens + max(0.0, now - last) * self.rate)

    @staticmethod
    def retry_after_header(wait: float) -> str:
        """Whole seconds, rounded up, as ``Retry-After`` requires."""
        return str(max(1, math.ceil(wait)))


def client_bucket(host: str | None) -> str:
    """The limiter key of a client address: the address for IPv4, its /64 network for IPv6.

    One IPv6 host usually holds a whole /64, so limiting single addresses would limit nothing.
    """
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
