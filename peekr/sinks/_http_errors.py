"""What the HTTP export wrappers tell each other, and where their drops are counted.

Exception tree (raised by the innermost sink, handled by the wrappers around it)::

    ExportError
    ├── RetryableExportError   429 / 502 / 503 / 504 / connection error -> RetryingSink
    ├── PayloadTooLargeError   413 -> SplittingSink halves the batch
    └── ExportGaveUp           retry deadline passed -> SpoolingSink keeps the events on disk,
                               or HTTPExporter counts them as dropped
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence

from .._events import Event
from .._runtime import record_delivered, record_dropped
from ..bus import BusHandle

__all__ = ["DropCounter", "ExportError", "ExportGaveUp", "PayloadTooLargeError", "RetryableExportError"]

logger = logging.getLogger("peekr")


class ExportError(Exception):
    """Base of the export signals."""


class RetryableExportError(ExportError):
    """The collector may accept the same batch later."""

    def __init__(self, message: str, *, retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class PayloadTooLargeError(ExportError):
    """HTTP 413: send fewer events per request."""


class ExportGaveUp(ExportError):
    """Retrying ran out of time; ``events`` were not delivered."""

    def __init__(self, message: str, events: Sequence[Event], *, reason: str = "timeout") -> None:
        super().__init__(message)
        self.events = list(events)
        self.reason = reason


class DropCounter:
    """Counts events an exporter gave up on, by reason, here and in ``peekr.stats()``."""

    def __init__(self, subscriber: str) -> None:
        self.subscriber = subscriber
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._logged: set[str] = set()
        #: The bus of the exporter this counter belongs to (set by its ``bind``).
        self.bus: BusHandle | None = None

    def add(self, reason: str, n: int) -> None:
        """Count ``n`` events lost for ``reason`` (``timeout``, ``http_401``, ``spool_full``, ...)."""
        if n <= 0:
            return
        with self._lock:
            self.counts[reason] += n
        bus = self.bus
        if bus is not None:
            bus.record_dropped(self.subscriber, reason, n)
        else:  # not bound to a bus (an exporter wrapped by a sink that does not forward ``bind``)
            record_dropped(self.subscriber, reason, n)

    def delivered(self, n: int) -> None:
        """Count ``n`` records the collector acknowledged (``peekr.stats().delivered``)."""
        if n <= 0:
            return
        bus = self.bus
        if bus is not None:
            bus.record_delivered(self.subscriber, n)
        else:
            record_delivered(self.subscriber, n)

    def log_once(self, key: str, level: int, message: str, *args: object) -> None:
        """Log ``message`` the first time ``key`` is seen (a bad key must not flood the logs)."""
        with self._lock:
            if key in self._logged:
                return
            self._logged.add(key)
        logger.log(level, message, *args)
