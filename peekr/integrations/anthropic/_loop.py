"""The SDK's stream loop with peekr's per-event step inside it.

A traced Anthropic stream used to be three generators per event: the SDK's ``Stream.__stream__`` (over a copy of the
stream, the SDK's ``_iterator``), peekr's ``traced_iterator`` around it, and the SDK's ``__iter__`` the caller runs.
``sdk_loop`` / ``sdk_aloop`` return one generator in place of the first two: a copy of the SDK's ``__stream__`` (run
over a copy of the stream, as the SDK's ``_iterator`` does, so the generator holds no reference to the stream the
caller keeps) with ``traced_iterator``'s step inside: the recorder's ``on_chunk`` until the first content delta,
then ``StreamKeeper.on_event``'s body inline (no Python call per event). The copy reads each event's name
(``sse.event``, a property) once where the SDK's loop reads it up to three times. Used only for the SDK's own
``Stream`` / ``AsyncStream`` whose loop reads exactly the names this copy was made from (``co_names``), and only
while the stream's ``_iterator`` has not been made; anything else gets the traced iterator around the SDK's loop
(``None``).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from copy import copy
from functools import cached_property
from typing import Any

from ... import _errors as _faults
from .._streams import StreamRecorder
from ._record import StreamKeeper

__all__ = ["sdk_aloop", "sdk_loop"]

# What ``Stream.__stream__`` / ``AsyncStream.__stream__`` read (``co_names``) in the SDK release these copies
# follow (anthropic 2.16); another release or someone else's patch gets the traced iterator.
_SYNC_LOOP_NAMES = (
    "cast",
    "Any",
    "_cast_to",
    "response",
    "_client",
    "_process_response_data",
    "_iter_events",
    "_observer",
    "begin",
    "event",
    "data",
    "json",
    "Exception",
    "status_code",
    "_make_status_error",
    "end",
    "sys",
    "is_finalizing",
    "is_closed",
    "close",
)
_ASYNC_LOOP_NAMES = (*_SYNC_LOOP_NAMES[:-1], "aclose")

_sdk: dict[str, Any] | None = None  # the SDK's stream classes, once their loops are known (empty: not used)


def _loop_known() -> dict[str, Any]:
    """The SDK's ``Stream`` and ``AsyncStream``, or ``{}`` when their loops are not the ones this module copies."""
    global _sdk
    if _sdk is None:
        _sdk = {}
        try:
            from anthropic import _streaming
        except ImportError:  # pragma: no cover - moved in another SDK release: the traced iterator
            return _sdk
        for cls, names in ((_streaming.Stream, _SYNC_LOOP_NAMES), (_streaming.AsyncStream, _ASYNC_LOOP_NAMES)):
            function = cls.__dict__.get("__stream__")
            code = getattr(function, "__code__", None)
            if code is None or code.co_names != names or function.__module__ != _streaming.__name__:
                return _sdk
            if not isinstance(cls.__dict__.get("_iterator"), cached_property):
                return _sdk  # the stream's generator is made another way than the copies expect
        _sdk.update(Stream=_streaming.Stream, AsyncStream=_streaming.AsyncStream)
    return _sdk


def sdk_loop(stream: Any, recorder: StreamRecorder, keeper: StreamKeeper) -> Iterator[Any] | None:
    """The SDK's loop over a copy of ``stream`` with the traced step inside (``keeper``'s ``on_event`` inline), or
    None when it cannot be used."""
    sdk = _loop_known()
    if not sdk or type(stream) is not sdk["Stream"] or "_iterator" in stream.__dict__:
        return None
    return _loop(copy(stream), recorder, keeper)


def sdk_aloop(stream: Any, recorder: StreamRecorder, keeper: StreamKeeper) -> AsyncIterator[Any] | None:
    """Async ``sdk_loop``."""
    sdk = _loop_known()
    if not sdk or type(stream) is not sdk["AsyncStream"] or "_iterator" in stream.__dict__:
        return None
    return _aloop(copy(stream), recorder, keeper)


def _error(source: Any, sse: Any, response: Any) -> Exception:
    """The error the SDK's loop raises for an ``error`` event (the same message and body)."""
    body = sse.data
    try:
        body = sse.json()
        message = f"{body}"
    except Exception:
        message = sse.data or f"Error code: {response.status_code}"
    return source._client._make_status_error(message, body=body, response=source.response)  # type: ignore[no-any-return]


def _loop(source: Any, recorder: StreamRecorder, keeper: StreamKeeper) -> Iterator[Any]:
    """``Stream.__stream__`` (as the SDK has it) over ``source`` with ``traced_iterator``'s step inside."""
    cast_to = source._cast_to
    response = source.response
    process_data = source._client._process_response_data
    iterator = source._iter_events()
    append = keeper.append
    if (observer := source._observer) is not None:
        observer.begin()
    try:
        try:
            for sse in iterator:
                event = sse.event
                if event == "ping" or event is None:
                    continue
                if event == "error":
                    raise _error(source, sse, response)
                if not sse.data:
                    continue
                chunk = process_data(data=sse.json(), cast_to=cast_to, response=response)
                # ``traced_iterator``'s step (the first event and fault injection: ``chunk()``), with
                # ``StreamKeeper.on_event``'s body inline once the first content delta has arrived
                if _faults._inject or recorder._first or recorder._done:
                    recorder.chunk(chunk)
                elif not keeper.started:
                    try:
                        recorder.on_chunk(chunk)
                    except Exception as exc:
                        recorder.failed(exc)
                else:
                    try:
                        kind = chunk.type
                        if kind == "content_block_delta":
                            delta = chunk.delta
                            if delta.type == "text_delta" and chunk.index == keeper.text_index:
                                append(delta.text)
                            else:
                                append(chunk)
                        else:
                            if kind == "content_block_start":
                                keeper.text_index = chunk.index if chunk.content_block.type == "text" else -1
                            append(chunk)
                    except Exception as exc:
                        recorder.failed(exc)
                yield chunk
            if (observer := source._observer) is not None:
                observer.end("read")
        except Exception as err:
            if (observer := source._observer) is not None:
                observer.end("failed", err)
            raise
        finally:
            if sys.is_finalizing():
                response.is_closed = True  # as the SDK: closing at interpreter shutdown can crash CPython 3.13
            else:
                response.close()  # the SDK's loop closes the response however it ends
    except BaseException as exc:
        recorder.finish(None if isinstance(exc, GeneratorExit) else exc)
        raise
    recorder.finish()


async def _aloop(source: Any, recorder: StreamRecorder, keeper: StreamKeeper) -> AsyncIterator[Any]:
    """``AsyncStream.__stream__`` (as the SDK has it) over ``source`` with the traced step inside (as ``_loop``)."""
    cast_to = source._cast_to
    response = source.response
    process_data = source._client._process_response_data
    iterator = source._iter_events()
    append = keeper.append
    if (observer := source._observer) is not None:
        observer.begin()
    try:
        try:
            async for sse in iterator:
                event = sse.event
                if event == "ping" or event is None:
                    continue
                if event == "error":
                    raise _error(source, sse, response)
                if not sse.data:
                    continue
                chunk = process_data(data=sse.json(), cast_to=cast_to, response=response)
                if _faults._inject or recorder._first or recorder._done:  # as in ``_loop``
                    recorder.chunk(chunk)
                elif not keeper.started:
                    try:
                        recorder.on_chunk(chunk)
                    except Exception as exc:
                        recorder.failed(exc)
                else:
                    try:
                        kind = chunk.type
                        if kind == "content_block_delta":
                            delta = chunk.delta
                            if delta.type == "text_delta" and chunk.index == keeper.text_index:
                                append(delta.text)
                            else:
                                append(chunk)
                        else:
                            if kind == "content_block_start":
                                keeper.text_index = chunk.index if chunk.content_block.type == "text" else -1
                            append(chunk)
                    except Exception as exc:
                        recorder.failed(exc)
                yield chunk
            if (observer := source._observer) is not None:
                observer.end("read")
        except Exception as err:
            if (observer := source._observer) is not None:
                observer.end("failed", err)
            raise
        finally:
            if sys.is_finalizing():
                response.is_closed = True
            else:
                await response.aclose()
    except BaseException as exc:
        recorder.finish(None if isinstance(exc, GeneratorExit) else exc)
        raise
    recorder.finish()
