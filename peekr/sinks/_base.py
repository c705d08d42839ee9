"""The ``Sink`` protocol and the ``WrapperSink`` base for composing behaviour around a sink."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .._events import Event

if TYPE_CHECKING:  # type-only: the bus imports this module
    from ..bus._handle import BusHandle

__all__ = ["Sink", "WrapperSink", "sink_name"]


@runtime_checkable
class Sink(Protocol):
    """Where events end up.

    Contract: every method runs in the bus task (never on the caller's thread); it may be
    slow, but blocking I/O should be moved to a worker thread (``anyio.to_thread``) so other
    sinks keep flowing. A sink must not assume it is the only sink. An exception from
    ``write`` is caught by the bus, counted as ``sink_error`` drops for this sink, and never
    reaches another sink or the user's code. Batches contain ``Span``, ``EvalResult`` and
    ``Feedback`` events in publish order; a sink ignores the kinds it does not store.

    Optional hooks the bus calls when a sink has them: ``bind(handle)`` when the bus is built
    (a ``peekr.bus.BusHandle``: ``publish``, ``record_dropped``, ``record_delivered``,
    ``stats``, instead of module globals); ``async open()`` when the bus starts
    (start worker threads and connections then, not at interpreter exit); ``prepare_close()``
    when shutdown begins (stop waiting on remote services); ``counts_own_delivery = True`` when
    the sink reports what it really delivered itself (``HTTPExporter``: what the collector took);
    ``merge_batches_up_to = N`` when, under load, the batches already waiting for the sink should
    reach it as one write of up to about N events (``SQLiteSink``: fewer, larger transactions).
    """

    async def write(self, batch: Sequence[Event]) -> None:
        """Store a batch of events."""
        ...

    async def flush(self, timeout: float | None = None) -> None:
        """Make everything written so far durable, within ``timeout`` seconds if given."""
        ...

    async def aclose(self) -> None:
        """Flush and release resources; the sink is not used again."""
        ...


class WrapperSink:
    """A sink that delegates to another; subclass it to add one behaviour (retry, split...)."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner

    async def write(self, batch: Sequence[Event]) -> None:
        """Delegate to the wrapped sink."""
        await self.inner.write(batch)

    async def flush(self, timeout: float | None = None) -> None:
        """Delegate to the wrapped sink."""
        await self.inner.flush(timeout)

    async def aclose(self) -> None:
        """Delegate to the wrapped sink."""
        await self.inner.aclose()

    def bind(self, handle: BusHandle) -> None:
        """Pass the bus handle on to the wrapped sink, if it takes one."""
        bind = getattr(self.inner, "bind", None)
        if callable(bind):
            bind(handle)


def sink_name(sink: object) -> str:
    """The name a sink is reported under in ``peekr.stats()``."""
    name = getattr(sink, "name", None)
    return name if isinstance(name, str) and name else type(sink).__name__
