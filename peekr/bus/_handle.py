"""``BusHandle``: what a subscriber gets from its bus (no module globals, no import of the bus)."""

from __future__ import annotations

from typing import Protocol

from .._pipeline import Inbound
from ._stats import BusStats

__all__ = ["BusHandle"]


class _Bus(Protocol):
    state: str

    def publish(self, event: Inbound) -> None: ...

    def record_dropped(self, subscriber: str, reason: str, n: int = 1) -> None: ...

    def record_delivered(self, subscriber: str, n: int) -> None: ...

    def stats(self) -> BusStats: ...


class BusHandle:
    """What the bus gives a subscriber with a ``bind(handle)`` hook, instead of module globals.

    An evaluator publishes its results back with ``publish``; an exporter counts what it gave up
    on with ``record_dropped`` and what its collector confirmed with ``record_delivered``. Every
    call goes to the bus that delivers to this subscriber, whichever runtime owns it.
    """

    __slots__ = ("_bus", "name")

    def __init__(self, bus: _Bus, name: str) -> None:
        self._bus = bus
        #: The name the subscriber is reported under in ``stats()``.
        self.name = name

    @property
    def closed(self) -> bool:
        """True once the bus has ended: what is published now is lost."""
        return self._bus.state == "closed"

    def publish(self, event: Inbound) -> None:
        """Hand an item to the bus (O(1), thread-safe, never blocks, never raises)."""
        self._bus.publish(event)

    def record_dropped(self, subscriber: str, reason: str, n: int = 1) -> None:
        """Count ``n`` events lost by ``subscriber`` (``peekr.stats().dropped``)."""
        self._bus.record_dropped(subscriber, reason, n)

    def record_delivered(self, subscriber: str, n: int) -> None:
        """Count ``n`` events ``subscriber`` confirmed as stored (``counts_own_delivery`` sinks)."""
        self._bus.record_delivered(subscriber, n)

    def stats(self) -> BusStats:
        """A snapshot of the bus's counters."""
        return self._bus.stats()
