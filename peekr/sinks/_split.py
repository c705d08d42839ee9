"""SplittingSink: when the collector answers 413, send the batch again in halves."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .._events import Event
from ._base import Sink, WrapperSink
from ._http_errors import DropCounter, ExportGaveUp, PayloadTooLargeError

__all__ = ["SplittingSink"]


class SplittingSink(WrapperSink):
    """Halve a batch on ``PayloadTooLargeError`` until it fits; a single event that is still too
    large is dropped and counted as ``too_large``."""

    def __init__(self, inner: Sink, drops: DropCounter) -> None:
        super().__init__(inner)
        self.drops = drops

    async def write(self, batch: Sequence[Event]) -> None:
        """Deliver ``batch``, in pieces if it has to be."""
        pending: list[Sequence[Event]] = [batch]
        while pending:
            part = pending.pop()
            try:
                await self.inner.write(part)
            except PayloadTooLargeError:
                if len(part) == 1:
                    self.drops.add("too_large", 1)
                    self.drops.log_once(
                        "too_large",
                        logging.WARNING,
                        "peekr: the collector refused one event as too large (HTTP 413), even alone; "
                        "it was dropped. Raise the collector's --max-body-bytes or record less content.",
                    )
                    continue
                mid = len(part) // 2
                pending += [part[mid:], part[:mid]]  # first half is sent first
            except ExportGaveUp as exc:
                rest = [event for p in reversed(pending) for event in p]
                raise ExportGaveUp(str(exc), [*exc.events, *rest], reason=exc.reason) from exc
