"""RetryingSink: retry transient export failures with backoff, within an overall deadline."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import anyio

from .._events import Event
from ._base import Sink, WrapperSink
from ._http_errors import ExportGaveUp, RetryableExportError

__all__ = ["RetryingSink"]


class RetryingSink(WrapperSink):
    """Retry ``RetryableExportError`` with exponential backoff and jitter, honouring Retry-After.

    Gives up with ``ExportGaveUp`` once ``deadline`` seconds have passed since the first attempt
    (or when the server asks to wait past it, or the sink is closing). Anything else the inner
    sink raises passes through untouched.
    """

    def __init__(
        self,
        inner: Sink,
        *,
        deadline: float = 30.0,
        initial_backoff: float = 0.5,
        max_backoff: float = 10.0,
    ) -> None:
        super().__init__(inner)
        self.deadline = deadline
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.closing = False
        self.retries = 0
        self._wake: anyio.Event | None = None

    def stop_retrying(self) -> None:
        """Give up at the next failure, and cut a backoff wait in progress short (bus thread only)."""
        self.closing = True
        if self._wake is not None:
            self._wake.set()

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based): half fixed, half random ("equal jitter")."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    @contextmanager
    def deadline_override(self, seconds: float) -> Iterator[None]:
        """Use a shorter deadline inside this block (a quick probe while the collector is down)."""
        saved, self.deadline = self.deadline, min(self.deadline, seconds)
        try:
            yield
        finally:
            self.deadline = saved

    async def write(self, batch: Sequence[Event]) -> None:
        """Deliver ``batch``, retrying transient failures until the deadline."""
        give_up_at = time.monotonic() + self.deadline
        attempt = 0
        while True:
            try:
                await self.inner.write(batch)
                return
            except RetryableExportError as exc:
                attempt += 1
                delay = exc.retry_after if exc.retry_after is not None else self.backoff(attempt)
                reason = "rate_limited" if exc.rate_limited else "timeout"
                if self.closing or time.monotonic() + delay > give_up_at:
                    raise ExportGaveUp(f"gave up after {attempt} attempts: {exc}", batch, reason=reason) from exc
                self.retries += 1
                wake = self._wake = anyio.Event()
                with anyio.move_on_after(delay):
                    await wake.wait()  # set by stop_retrying(): try once more, then give up

    async def aclose(self) -> None:
        """Stop retrying (a write in progress gives up at its next failure), then close the inner sink."""
        self.stop_retrying()
        await self.inner.aclose()
