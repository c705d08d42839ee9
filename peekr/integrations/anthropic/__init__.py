"""Anthropic: ``messages.create`` (incl. ``stream=True``), ``messages.stream(...)`` and
``messages.parse``, sync and async, plus the ``client.beta.messages`` twins.

Patch points (class level, on the classes that define them; PROVIDERS.md §2):

* ``Messages.create`` / ``AsyncMessages.create`` and ``.parse``: one span per call.
  ``AsyncMessages.create`` is a ``def`` returning a coroutine (``@required_args``), so it is
  wrapped by class, with ``wrap_async``.
* ``Messages.stream`` builds a ``MessageStreamManager`` and does no I/O (it does *not* go through
  ``create``); the request is made in ``MessageStreamManager.__enter__`` (async:
  ``AsyncMessageStreamManager.__aenter__``). So ``stream`` only remembers its arguments on the
  manager, and the span starts when the request is made, in the patched ``__enter__``. A manager
  that is never entered makes no request and records nothing.
* ``Stream.close`` / ``AsyncStream.close``: finish the span of a traced stream at once.

Streams: the user keeps the SDK's own ``Stream`` / ``MessageStream`` object; only its private
``_iterator`` is swapped for a traced one, which sees every raw event whether the user iterates
the ``Stream`` itself or a ``MessageStream`` helper on top of it (``text_stream``,
``get_final_message()``, ``until_done()`` all read the raw stream). The traced one is peekr's copy
of the SDK's loop with the traced step inside (``anthropic._loop``) when the SDK's loop is the one
copied, else ``traced_iterator`` around the SDK's own.

Finish paths of a stream span (it ends exactly once, the first of these to happen; the
``StreamRecorder`` guard makes later ones no-ops):

1. the raw event iterator is exhausted (``for`` loop ends, ``until_done()``, ``get_final_*()``);
2. an exception comes out of the iterator: an ``event: error`` SSE (``APIStatusError``),
   a network error, or cancellation — recorded as the span's error, then re-raised unchanged;
3. ``Stream.close()`` / ``await AsyncStream.close()``, which is also what ``with stream:``,
   ``MessageStream.close()`` and leaving ``with client.messages.stream(...)`` early call;
4. the traced iterator is closed (``GeneratorExit``) or the stream object is garbage-collected
   (``weakref.finalize``) after a ``break`` without ``close()``.

Paths 3 and 4 keep the partial output; the output token count is only set when the
stream's ``message_delta`` arrived (see ``anthropic._record``).

Caveat: calls made through ``with_raw_response`` / ``with_streaming_response`` record the
request side only (their result is an HTTP response, whose body peekr does not read).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar

from ... import _runtime
from ..._errors import checkpoint, handle_internal_errors
from ..._tracer import ActiveSpan
from .._base import Integration, patch
from .._streams import StreamRecorder, traced_async_iterator, traced_iterator
from .._wrap import wrap_async, wrap_sync
from . import _record as record
from ._loop import sdk_aloop, sdk_loop

__all__ = ["AnthropicIntegration"]

_REQUEST_ATTR = "_peekr_request"  # on a stream manager: the kwargs ``stream()`` was called with
_RECORDER_ATTR = "_peekr_recorder"  # on a raw Stream / AsyncStream being traced

# Set by the patch hook (the SDK is never imported by peekr itself).
_SYNC_STREAM: tuple[type, ...] = ()
_ASYNC_STREAM: tuple[type, ...] = ()


class AnthropicIntegration(Integration):
    """Records every Anthropic Messages API call as an ``anthropic.messages`` span."""

    identifier: ClassVar[str] = "anthropic"
    distribution: ClassVar[str] = "anthropic"
    package: ClassVar[str] = "anthropic"
    # 2.x is the httpx2 generation this module was written and tested against (2.14.0); a method
    # missing in another version is skipped by ``patch()`` rather than failing.
    min_version: ClassVar[str] = "2.0.0"
    extra: ClassVar[str] = "anthropic"

    def hooks(self) -> Mapping[str, Callable[[ModuleType], None]]:
        """Patch the stable and the beta Messages resources when their modules are imported."""
        return {
            "anthropic.resources.messages.messages": _patch_messages,
            "anthropic.resources.beta.messages.messages": _patch_beta_messages,
        }


# -- patch hooks -------------------------------------------------------------------------------


def _patch_common() -> None:
    global _SYNC_STREAM, _ASYNC_STREAM
    from anthropic._streaming import AsyncStream, Stream
    from anthropic._types import NotGiven, Omit

    record.set_sdk_types((NotGiven, Omit))
    _SYNC_STREAM, _ASYNC_STREAM = (Stream,), (AsyncStream,)
    patch(Stream, "close", _close_sync)
    patch(AsyncStream, "close", _close_async)


def _patch_resource(sync_cls: type, async_cls: type, manager: type, async_manager: type) -> None:
    patch(sync_cls, "create", wrap_sync("anthropic.messages.create", _describe_create, _on_create))
    patch(sync_cls, "parse", wrap_sync("anthropic.messages.parse", _describe_parse, _on_message))
    patch(sync_cls, "stream", _remember_request)
    patch(async_cls, "create", wrap_async("anthropic.messages.create", _describe_create, _on_create))
    patch(async_cls, "parse", wrap_async("anthropic.messages.parse", _describe_parse, _on_message))
    patch(async_cls, "stream", _remember_request)
    patch(manager, "__enter__", wrap_sync("anthropic.messages.stream", _describe_manager, _on_stream_enter))
    patch(async_manager, "__aenter__", wrap_async("anthropic.messages.stream", _describe_manager, _on_stream_enter))


def _patch_messages(module: ModuleType) -> None:
    from anthropic.lib.streaming._messages import AsyncMessageStreamManager, MessageStreamManager

    _patch_common()
    _patch_resource(module.Messages, module.AsyncMessages, MessageStreamManager, AsyncMessageStreamManager)


def _patch_beta_messages(module: ModuleType) -> None:
    from anthropic.lib.streaming._beta_messages import BetaAsyncMessageStreamManager, BetaMessageStreamManager

    _patch_common()
    _patch_resource(module.Messages, module.AsyncMessages, BetaMessageStreamManager, BetaAsyncMessageStreamManager)


# -- describe: request side --------------------------------------------------------------------


def _describe_create(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return record.describe_call(kwargs, record.stream_flag(kwargs))


def _describe_parse(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return record.describe_call(kwargs, None)


def _describe_manager(
    instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str, dict[str, Any]] | None:
    request = instance.__dict__.get(_REQUEST_ATTR)
    if request is None:  # the manager was made while peekr was off
        return None
    return record.describe_call(request, True)


def _remember_request(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Messages.stream``: keep its arguments on the manager for the span made on ``__enter__``."""

    @functools.wraps(original)
    def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        manager = original(self, *args, **kwargs)
        if _runtime.get_runtime() is not None:
            with handle_internal_errors("anthropic.messages.stream.setup"):
                checkpoint("anthropic.messages.stream.setup")
                manager.__dict__[_REQUEST_ATTR] = kwargs
        return manager

    return stream


# -- results -----------------------------------------------------------------------------------


def _on_message(span: ActiveSpan, result: Any, kwargs: dict[str, Any]) -> Any:
    if not record.is_raw_response_call(kwargs):
        record.record_message(span, result)
    span.end()
    return result


def _on_create(span: ActiveSpan, result: Any, kwargs: dict[str, Any]) -> Any:
    if isinstance(result, _SYNC_STREAM):
        _trace_stream(span, result, traced_iterator, sdk_loop)
        return result
    if isinstance(result, _ASYNC_STREAM):
        _trace_stream(span, result, traced_async_iterator, sdk_aloop)
        return result
    return _on_message(span, result, kwargs)


def _on_stream_enter(span: ActiveSpan, message_stream: Any, kwargs: dict[str, Any]) -> Any:
    raw = getattr(message_stream, "_raw_stream", None)
    if isinstance(raw, _SYNC_STREAM):
        _trace_stream(span, raw, traced_iterator, sdk_loop)
    elif isinstance(raw, _ASYNC_STREAM):
        _trace_stream(span, raw, traced_async_iterator, sdk_aloop)
    else:  # an SDK helper shaped differently than the one this was written for
        span.end()
    return message_stream


def _trace_stream(
    span: ActiveSpan,
    stream: Any,
    trace: Callable[[Any, StreamRecorder], Any],
    loop: Callable[[Any, StreamRecorder, record.StreamKeeper], Any],
) -> None:
    """Swap the SDK stream's event iterator for a traced one; the span ends on a finish path.

    The traced iterator is ``loop``'s copy of the SDK's loop with the traced step inside (``anthropic._loop``)
    when it can be used, else ``trace`` around the SDK's own loop.
    """
    keeper = record.StreamKeeper(span)
    recorder = StreamRecorder(span, keeper.on_event, keeper.finalize, "anthropic.messages.stream")
    # ``_iterator`` is a cached_property over a *copy* of the stream (made here, before peekr's
    # attribute is set), so the generator holds no reference to the stream and a dropped stream
    # is still collected at once; the traced generator keeps that property (it references the
    # copy, or the copy's generator, and the recorder only).
    iterator = loop(stream, recorder, keeper)
    if iterator is None:
        iterator = trace(stream._iterator, recorder)
    recorder.attach(stream)
    stream.__dict__[_RECORDER_ATTR] = recorder
    stream._iterator = iterator


def _close_sync(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def close(self: Any) -> Any:
        recorder = self.__dict__.get(_RECORDER_ATTR)
        if recorder is not None:
            recorder.finish()
        return original(self)

    return close


def _close_async(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def close(self: Any) -> Any:
        recorder = self.__dict__.get(_RECORDER_ATTR)
        if recorder is not None:
            recorder.finish()
        return await original(self)

    return close
