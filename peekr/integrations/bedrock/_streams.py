"""Finish-once recording of Bedrock's streamed results (no SDK import here).

Two kinds of streamed result, both handed to the user as the SDK's own objects:

* ``ConverseStream`` / ``InvokeModelWithResponseStream`` return a botocore ``EventStream``
  (aiobotocore: ``AioEventStream``) in ``response["stream"]`` / ``response["body"]``. peekr keeps
  the object and records it in ``_recorders`` (a ``WeakKeyDictionary``: nothing is set on the
  user's object). ``EventStream.__iter__``, ``AioEventStream.__aiter__`` and ``EventStream.close``
  are patched at class level; for a stream peekr does not know (S3 Select, Kinesis, ...) they cost
  one dictionary lookup per stream, not per event, and then run the original.
* ``InvokeModel`` returns a one-shot ``StreamingBody``. It is replaced by a subclass of the same
  SDK class over the same HTTP response (``bedrock._body`` / ``bedrock._aio_body``): the user's
  own reads run unchanged and peekr keeps a copy of the bytes (``BodyTee``) to read the model's
  answer when the body is done. peekr never reads the body itself.

Finish paths (STYLE rule 16); the first one to happen ends the span, ``StreamRecorder.finish``
makes the others no-ops:

1. event stream exhausted (the traced iterator returns) / body read to the end (``read()``,
   ``read(n)`` returning ``b""``, or ``Content-Length`` bytes read);
2. an exception while iterating or reading (``EventStreamError`` for in-stream errors such as
   ``modelStreamErrorException``, connection and timeout errors, cancellation): recorded, re-raised;
3. early exit: ``break`` out of the ``for``/``async for`` (the traced generator is closed),
   ``stream.close()``, ``body.close()``, leaving ``with body`` / ``async with body``;
4. the stream or body is garbage-collected first (``weakref.finalize``).
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from ..._errors import checkpoint, handle_internal_errors
from ..._tracer import ActiveSpan
from .._streams import StreamRecorder, traced_async_iterator, traced_iterator
from ._invoke import record_invoke_body

__all__ = [
    "BodyTee",
    "make_aiter",
    "make_close",
    "make_iter",
    "watch_event_stream",
]

#: Bytes of an ``invoke_model`` body peekr copies at most to read the answer from.
MAX_BODY_BYTES = 8 * 1024 * 1024

_recorders: weakref.WeakKeyDictionary[Any, StreamRecorder] = weakref.WeakKeyDictionary()


def watch_event_stream(stream: Any, span: ActiveSpan, on_event: Callable[[Any], None], record: Any) -> None:
    """Record ``stream``'s events into ``span``; the span ends on the first finish path."""
    recorder = StreamRecorder(span, on_event, lambda s: record(s.attributes), "bedrock.stream")
    _recorders[stream] = recorder
    recorder.attach(stream)


def _active_recorder(stream: Any) -> StreamRecorder | None:
    with handle_internal_errors("bedrock.stream.lookup"):
        recorder = _recorders.get(stream)
        if recorder is not None and not recorder.done:
            return recorder
    return None


def make_iter(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``EventStream.__iter__``: the same events, fed to the stream's recorder if it has one."""

    @functools.wraps(original)
    def __iter__(self: Any) -> Any:
        recorder = _active_recorder(self) if _recorders else None
        if recorder is None:
            return original(self)
        return traced_iterator(original(self), recorder)

    return __iter__


def make_aiter(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``AioEventStream.__aiter__``: the async twin of ``make_iter``."""

    @functools.wraps(original)
    def __aiter__(self: Any) -> Any:
        recorder = _active_recorder(self) if _recorders else None
        if recorder is None:
            return original(self)
        return traced_async_iterator(original(self), recorder)

    return __aiter__


def make_close(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``EventStream.close`` (inherited by ``AioEventStream``): end the span, then close."""

    @functools.wraps(original)
    def close(self: Any) -> Any:
        recorder = _active_recorder(self) if _recorders else None
        if recorder is not None:
            recorder.finish()
        return original(self)

    return close


class BodyTee:
    """A copy of the bytes the user reads from an ``invoke_model`` body, and the span's recorder."""

    __slots__ = ("buffer", "headers", "overflow", "recorder")

    def __init__(self, span: ActiveSpan, headers: Mapping[str, Any]) -> None:
        self.headers = headers  # token counts from the response headers
        self.buffer = bytearray()
        self.overflow = False
        self.recorder = StreamRecorder(span, _ignore, self._finalize, "bedrock.body")

    def feed(self, chunk: bytes, at_end: bool) -> None:
        """The user read ``chunk``; ``at_end`` when the body is now fully read."""
        with handle_internal_errors("bedrock.body.read"):
            checkpoint("bedrock.body.read")
            if not self.overflow:
                if len(self.buffer) + len(chunk) > MAX_BODY_BYTES:
                    self.overflow = True
                    self.buffer = bytearray()
                else:
                    self.buffer += chunk
        if at_end:
            self.recorder.finish()

    def finish(self, error: BaseException | None = None) -> None:
        """End the span (first call only)."""
        self.recorder.finish(error)

    def _finalize(self, span: ActiveSpan) -> None:
        body = None
        if self.buffer and not self.overflow:
            try:
                body = json.loads(self.buffer)
            except ValueError:  # not JSON (an image model, or a partial read): headers only
                body = None
        record_invoke_body(span.attributes, body, self.headers)


def _ignore(chunk: Any) -> None:
    return None
