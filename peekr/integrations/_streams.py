"""Finish-once recording of streamed responses.

A ``StreamRecorder`` owns the span of one streamed call. Integrations feed it every chunk
(``on_chunk``, which must be cheap: it runs on the user's thread for every chunk) and it ends
the span exactly once, whichever path comes first:

1. the iterator is exhausted;
2. an exception is raised mid-stream (including cancellation) — recorded, then re-raised;
3. the iterator is closed early (``break`` + generator close, ``close()``/``aclose()``, leaving a
   ``with`` block) — recorded as ``ok`` with the partial output;
4. the stream object is garbage-collected without any of the above (``weakref.finalize``).

``finish`` is guarded by a lock-free flag on the span (``ActiveSpan.end`` is idempotent), so two
paths running is harmless.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .. import _errors as _faults
from .._errors import checkpoint, handle_internal_errors, raise_internal_errors
from .._tracer import ActiveSpan

__all__ = ["StreamRecorder", "traced_async_iterator", "traced_iterator"]


class StreamRecorder:
    """Collects a stream's chunks into its span and ends the span once."""

    __slots__ = ("_chunk_where", "_done", "_first", "finalize", "on_chunk", "span", "where", "__weakref__")

    def __init__(
        self,
        span: ActiveSpan,
        on_chunk: Callable[[Any], None],
        finalize: Callable[[ActiveSpan], None],
        where: str,
    ) -> None:
        self.span = span
        self.on_chunk = on_chunk
        self.finalize = finalize
        self.where = where
        self._first = True
        self._done = False
        self._chunk_where = f"{where}.chunk"

    def chunk(self, chunk: Any) -> None:
        """Record one chunk (never raises, except under ``PEEKR_RAISE_INTERNAL_ERRORS``).

        ``traced_iterator`` and ``traced_async_iterator`` inline the common case (no fault
        injection, not the first chunk: ``_slow`` is False) and call this for the rest.
        """
        if self._done:  # read after close(): the span already belongs to the bus thread
            return
        try:
            checkpoint(self._chunk_where)
            if self._first:
                self._first = False
                self.span.mark_first_token()
            self.on_chunk(chunk)
        except Exception as exc:
            self.failed(exc)

    def failed(self, exc: Exception) -> None:
        """Count (and log once) an internal error of the per-chunk path; re-raised in peekr's tests."""
        from .._errors import log_internal_error

        log_internal_error(self._chunk_where, exc)
        if raise_internal_errors():
            raise exc

    @property
    def done(self) -> bool:
        """True once the span has been finished (by any path)."""
        return self._done

    def finish(self, error: BaseException | None = None) -> None:
        """End the span (first call only): summarise the chunks, then publish."""
        if self._done:
            return
        self._done = True
        with handle_internal_errors(f"{self.where}.finish"):
            checkpoint(f"{self.where}.finish")
            self.finalize(self.span)
        self.span.end(error=error)

    def attach(self, owner: object) -> None:
        """Finish when ``owner`` (the SDK stream object) is garbage-collected."""
        with handle_internal_errors(f"{self.where}.attach"):
            weakref.finalize(owner, self.finish)


def traced_iterator(stream: Iterator[Any], recorder: StreamRecorder, *, close_source: bool = False) -> Iterator[Any]:
    """Yield ``stream``'s items unchanged, feeding them to ``recorder``.

    With ``close_source``, closing this generator early also closes ``stream`` (its ``close()``)
    right away, as the caller's own ``close()`` would have done without peekr.

    The per-chunk path is ``StreamRecorder.chunk`` inlined for the common case (it runs on the
    caller's thread for every chunk): one flag read for fault injection, one for the first chunk or
    a finished span, then the integration's ``on_chunk`` (read each time: integrations swap it).
    """
    try:
        for item in stream:
            if _faults._inject or recorder._first or recorder._done:
                recorder.chunk(item)
            else:
                try:
                    recorder.on_chunk(item)
                except Exception as exc:
                    recorder.failed(exc)
            yield item
    except BaseException as exc:
        if isinstance(exc, GeneratorExit):
            recorder.finish()
            if close_source:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        else:
            recorder.finish(exc)
        raise
    recorder.finish()


async def traced_async_iterator(
    stream: AsyncIterator[Any], recorder: StreamRecorder, *, close_source: bool = False
) -> AsyncIterator[Any]:
    """Async version of ``traced_iterator`` (``close_source`` awaits ``stream.aclose()``)."""
    try:
        async for item in stream:
            if _faults._inject or recorder._first or recorder._done:
                recorder.chunk(item)
            else:
                try:
                    recorder.on_chunk(item)
                except Exception as exc:
                    recorder.failed(exc)
            yield item
    except BaseException as exc:
        if isinstance(exc, GeneratorExit):
            recorder.finish()
            if close_source:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        else:
            recorder.finish(exc)
        raise
    recorder.finish()
