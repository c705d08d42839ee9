"""Google Gemini (``google-genai``): each ``generate_content`` call becomes a ``gemini.generate_content`` span.

Patched at class level in ``google.genai.models`` as soon as that module is imported (at once if it
already is), so clients created before ``instrument()`` are traced too:

- ``Models.generate_content`` (``def``): ``wrap_sync``;
- ``Models.generate_content_stream`` (a generator function: no I/O until the first ``next()``):
  ``wrap_sync``, returning a traced generator;
- ``AsyncModels.generate_content`` (``async def``): ``wrap_async``;
- ``AsyncModels.generate_content_stream`` (``async def`` returning an async generator): ``wrap_async``,
  returning a traced async generator.

Chats are not patched: ``Chat.send_message[_stream]`` and ``AsyncChat.send_message[_stream]`` call
``self._modules.generate_content[_stream]`` — the ``Models`` methods above — so each send is
recorded exactly once. Automatic function calling and automatic continuation run several HTTP
requests inside one ``generate_content`` call; that is one span (the usage is what the SDK returns).

Streams keep their shape. The sync call still returns a lazy generator: the HTTP request, and any
HTTP error, happen on the first ``next()``, and that is where the span records the error. (The
wrapper itself is a plain ``def`` returning that generator, so argument errors still raise at call
time and the span starts at the call; ``inspect.isgeneratorfunction`` on the patched method now
answers False, the one visible difference.) The async
call is still ``async for chunk in await client.aio.models.generate_content_stream(...)``: the
wrapper is an ``async def`` that returns an async generator. The span starts when the method is
called (so parent span and session come from the caller's context) and ends exactly once, on
whichever of these paths comes first (``StreamRecorder.finish`` is guarded, so a second is a no-op):

1. the stream is exhausted -> ``ok``, full output and the last chunk's usage;
2. the SDK raises mid-stream (HTTP error on the first ``next()``, an error event, a network error,
   cancellation) -> ``error`` with that exception, which is re-raised unchanged;
3. the stream is closed early (``break`` then ``close()``/``aclose()``, or the generator is
   finalised) -> ``ok`` with the partial output; the SDK's own generator is closed right away, as
   it would have been without peekr;
4. the stream object is garbage-collected, even if never iterated (``weakref.finalize``) -> ``ok``.

The SDK is never imported by ``import peekr``; only ``hooks()`` names the module to patch.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar

from ..._tracer import ActiveSpan
from .._base import Integration, patch
from .._streams import StreamRecorder, traced_async_iterator, traced_iterator
from .._wrap import wrap_async, wrap_sync
from ._extract import StreamState, describe_request, record_response

__all__ = ["SPAN_NAME", "GeminiIntegration"]

logger = logging.getLogger("peekr")

SPAN_NAME = "gemini.generate_content"


class GeminiIntegration(Integration):
    """``google-genai``: ``client.models`` and ``client.aio.models`` generate_content(+_stream), and chats."""

    identifier: ClassVar[str] = "gemini"
    distribution: ClassVar[str] = "google-genai"
    package: ClassVar[str] = "google.genai"
    min_version: ClassVar[str] = "1.0.0"
    extra: ClassVar[str] = "gemini"

    def hooks(self) -> Mapping[str, Callable[[ModuleType], None]]:
        """Patch ``google.genai.models`` when it is (or once it gets) imported."""
        return {"google.genai.models": _patch_models}


def _describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return SPAN_NAME, describe_request(kwargs, stream=False)


def _describe_stream(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return SPAN_NAME, describe_request(kwargs, stream=True)


def _on_response(span: ActiveSpan, response: Any, kwargs: dict[str, Any]) -> Any:
    record_response(span.attributes, response)
    span.end()
    return response


def _recorder(span: ActiveSpan, where: str) -> StreamRecorder:
    state = StreamState()

    def finalize(span: ActiveSpan) -> None:
        state.apply(span.attributes)

    return StreamRecorder(span, state.add, finalize, where)


# Streams run on the shared ``traced_iterator``: the SDK's chunks are yielded unchanged and the span ends on
# exhaustion, error or close (paths 1-3), closing the SDK's own generator at once on an early close. Each
# chunk is folded into the state's running values as it arrives (``StreamState.add``: no chunk is kept) and the
# state is written into the span at the end (target: well under 1 us per chunk, garbage collection included).


def _on_stream(span: ActiveSpan, stream: Any, kwargs: dict[str, Any]) -> Any:
    recorder = _recorder(span, "gemini.generate_content_stream")
    traced = traced_iterator(stream, recorder, close_source=True)
    recorder.attach(traced)  # path 4
    return traced


def _on_async_stream(span: ActiveSpan, stream: Any, kwargs: dict[str, Any]) -> Any:
    recorder = _recorder(span, "gemini.aio.generate_content_stream")
    traced = traced_async_iterator(stream, recorder, close_source=True)
    recorder.attach(traced)  # path 4
    return traced


def _is_async(owner: type, name: str) -> bool:
    function = owner.__dict__.get(name)
    return function is not None and inspect.iscoroutinefunction(inspect.unwrap(function))


def _patch_models(module: ModuleType) -> None:
    models, async_models = module.Models, module.AsyncModels
    patch(models, "generate_content", wrap_sync("gemini.generate_content", _describe, _on_response))
    patch(models, "generate_content_stream", wrap_sync("gemini.generate_content_stream", _describe_stream, _on_stream))
    for name, describe, on_result in (
        ("generate_content", _describe, _on_response),
        ("generate_content_stream", _describe_stream, _on_async_stream),
    ):
        # Both are ``async def`` in google-genai 1.x-3.x; a future plain ``def`` would need another wrapper,
        # and a wrong one would break the user's ``await``: leave such a method alone.
        if _is_async(async_models, name):
            patch(async_models, name, wrap_async(f"gemini.aio.{name}", describe, on_result))
        else:
            logger.debug("peekr: google.genai AsyncModels.%s is not a coroutine function; not traced", name)
