"""Pieces every OpenAI endpoint shares: SDK types, request parameters, usage, stream plumbing.

Nothing here imports ``openai`` at import time. ``load_sdk_types()`` runs from the integration's
post-import hook (so only once the SDK is imported) and fills ``SDK``.

Stream finish paths (STYLE rule 16). A traced OpenAI stream keeps the SDK's own ``Stream`` /
``AsyncStream`` object; only its ``_iterator`` is swapped for ``traced_iterator`` /
``traced_async_iterator``. The span ends exactly once, on whichever comes first:

1. exhaustion (``data: [DONE]``) and an exception mid-stream (``openai.APIError``, cancellation):
   the traced iterator ends it;
2. ``break`` + generator close / garbage collection of the iterator: the traced iterator's
   ``GeneratorExit`` path;
3. ``stream.close()`` / ``with stream:`` exit, and the ``.stream()`` helpers' ``close()`` /
   ``__exit__``, which close only the httpx2 response (PROVIDERS.md P3): a per-instance hook on
   ``stream.response.close`` (async: ``aclose``) ends it — unless the traced iterator is itself
   running at that moment (the SDK's generator closes the response in its ``finally`` on
   exhaustion and on error), in which case the iterator ends it, with the error if any;
4. the stream object is collected without any of the above (never iterated): ``weakref.finalize``.

``StreamRecorder.finish`` and ``ActiveSpan.end`` are idempotent, so two paths running is harmless.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, cast

from ..._capture import capture
from ..._tracer import ActiveSpan
from .._streams import StreamRecorder, traced_async_iterator, traced_iterator

__all__ = [
    "record_usage",
    "PROVIDER",
    "SDK",
    "given",
    "is_raw_response_call",
    "load_sdk_types",
    "provider_of",
    "request_attribute",
    "set_captured",
    "set_first_content",
    "set_response_id",
    "tool_names",
    "trace_async_stream",
    "trace_sync_stream",
]

PROVIDER = "openai"
_providers: dict[type, str] = {}  # client class -> provider, decided once per class


def provider_of(resource: Any) -> str:
    """``"azure"`` for ``AzureOpenAI`` / ``AsyncAzureOpenAI`` clients (their own prices), else ``"openai"``."""
    client_class = type(getattr(resource, "_client", None))
    provider = _providers.get(client_class)
    if provider is None:
        names = {klass.__name__ for klass in client_class.__mro__}
        provider = _providers[client_class] = "azure" if names & {"AzureOpenAI", "AsyncAzureOpenAI"} else PROVIDER
    return provider


class SDK:
    """SDK classes, filled in by ``load_sdk_types()`` once ``openai`` is imported."""

    unset: tuple[type, ...] = ()
    Stream: Any = type(None)
    AsyncStream: Any = type(None)
    LegacyAPIResponse: Any = type(None)
    BaseAPIResponse: Any = type(None)
    raw_response_header = "X-Stainless-Raw-Response"


def load_sdk_types() -> None:
    """Resolve the SDK classes the wrappers test results against (idempotent, cheap once imported)."""
    from openai import AsyncStream, NotGiven, Omit, Stream
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import BaseAPIResponse

    SDK.unset = (Omit, NotGiven)
    SDK.Stream = Stream
    SDK.AsyncStream = AsyncStream
    SDK.LegacyAPIResponse = LegacyAPIResponse
    SDK.BaseAPIResponse = BaseAPIResponse
    try:
        from openai._constants import RAW_RESPONSE_HEADER

        SDK.raw_response_header = RAW_RESPONSE_HEADER
    except ImportError:  # pragma: no cover - older SDKs keep the default name
        pass


def given(value: Any) -> bool:
    """True when the caller passed a real value (not omitted, ``NOT_GIVEN`` or None)."""
    return value is not None and not isinstance(value, SDK.unset)


def is_raw_response_call(kwargs: Mapping[str, Any]) -> bool:
    """True for ``with_raw_response`` / ``with_streaming_response`` calls (they add a marker header)."""
    headers = kwargs.get("extra_headers")
    return isinstance(headers, Mapping) and SDK.raw_response_header in headers


def set_captured(attributes: dict[str, Any], key: str, value: Any) -> None:
    """``attributes[key] = capture(value)``, unless content capture is off (capture() gives None)."""
    captured = capture(value)
    if captured is not None:
        attributes[key] = captured


def set_response_id(attributes: dict[str, Any], result: Any) -> None:
    """``attributes["response_id"]`` = the provider's id of this completion/response (a non-empty string), if any."""
    response_id = getattr(result, "id", None)
    if isinstance(response_id, str) and response_id:
        attributes["response_id"] = response_id


def tool_names(tools: Any) -> list[str] | None:
    """Names of the tools offered (function name, else the tool's ``type``); None if not a list."""
    if not isinstance(tools, (list, tuple)):
        return None  # an iterator the SDK has yet to consume: never read it here
    names: list[str] = []
    for tool in tools:
        if isinstance(tool, Mapping):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, Mapping) else tool.get("name")
            names.append(str(name or tool.get("type") or "?"))
        else:
            names.append(str(getattr(tool, "name", None) or getattr(tool, "type", None) or type(tool).__name__))
    return names


def _format_type(value: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get("type")
    if isinstance(value, type):  # .parse(response_format=MyModel): sent as a JSON schema
        return "json_schema"
    return value


#: The request parameters ``request_attribute`` summarises rather than copies.
_SUMMARISED = frozenset(("tools", "response_format", "text", "reasoning"))


def request_attribute(kwargs: Mapping[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    """The request parameters the caller gave, among ``keys`` (plus tools and formats, summarised)."""
    request: dict[str, Any] = {}
    unset = SDK.unset
    for key, value in kwargs.items():  # in the caller's order; usually a handful of keys
        if key in keys and value is not None and not isinstance(value, unset):
            request[key] = value
    if _SUMMARISED.isdisjoint(kwargs):  # the common call: none of the four below (one C-level check)
        return request
    tools = kwargs.get("tools")
    if tools is not None and not isinstance(tools, unset):
        names = tool_names(tools)
        if names is not None:
            request["tools"] = names
    response_format = kwargs.get("response_format")
    if response_format is not None and not isinstance(response_format, unset):
        request["response_format"] = _format_type(response_format)
    text = kwargs.get("text")  # Responses API: text={"format": {...}}
    if isinstance(text, Mapping) and isinstance(text.get("format"), Mapping):
        request["response_format"] = text["format"].get("type")
    reasoning = kwargs.get("reasoning")
    if isinstance(reasoning, Mapping) and reasoning.get("effort") is not None:
        request["reasoning_effort"] = reasoning["effort"]
    return request


#: ``(input_name, output_name)`` -> the usage object's field names, built once per pair.
_USAGE_NAMES: dict[tuple[str, str], tuple[str, str, str, str]] = {}


def record_usage(attributes: dict[str, Any], usage: Any, input_name: str, output_name: str) -> None:
    """Token counts from a chat (``prompt``/``completion``) or Responses (``input``/``output``) usage object."""
    if usage is None:
        return
    names = _USAGE_NAMES.get((input_name, output_name))
    if names is None:
        names = _USAGE_NAMES[input_name, output_name] = (
            f"{input_name}_tokens",
            f"{output_name}_tokens",
            f"{input_name}_tokens_details",
            f"{output_name}_tokens_details",
        )
    tokens_in = getattr(usage, names[0], None)
    tokens_out = getattr(usage, names[1], None)
    total = getattr(usage, "total_tokens", None)
    if tokens_in is not None:
        attributes["tokens_input"] = tokens_in
    if tokens_out is not None:
        attributes["tokens_output"] = tokens_out
    if total is None and tokens_in is not None and tokens_out is not None:
        total = tokens_in + tokens_out
    if total is not None:
        attributes["tokens_total"] = total
    details = getattr(usage, names[2], None)
    if details is not None:
        for source, key in (("cached_tokens", "tokens_cache_read"), ("cache_write_tokens", "tokens_cache_write")):
            value = getattr(details, source, None)
            if value is not None:
                attributes[key] = value
    details = getattr(usage, names[3], None)
    reasoning = getattr(details, "reasoning_tokens", None) if details is not None else None
    if reasoning is not None:
        attributes["tokens_reasoning"] = reasoning


def set_first_content(span: ActiveSpan) -> None:
    """Time to first token = now: the first *content* chunk (the recorder marks the first chunk of any
    kind, which for OpenAI is a role-only chunk or a ``response.created`` event)."""
    span.attributes.pop("ttft_ms", None)
    span.mark_first_token()


def trace_sync_stream(
    span: ActiveSpan,
    stream: Any,
    make_on_chunk: Callable[[ActiveSpan, list[Any], StreamRecorder], Callable[[Any], None]],
    finalize: Callable[[ActiveSpan, list[Any]], None],
    where: str,
    iterate: Callable[[Any, StreamRecorder], Iterator[Any] | None] | None = None,
) -> Any:
    """Swap ``stream._iterator`` for a traced one and hook every way the stream can end (module docstring).

    ``iterate(stream, recorder)``, when given and not None, is that traced iterator: a generator doing what
    ``traced_iterator`` over ``stream._iterator`` does with ``recorder`` (e.g. the SDK's loop with the
    per-chunk step inside it); otherwise ``traced_iterator`` wraps the SDK's.
    """
    chunks: list[Any] = []
    recorder = StreamRecorder(span, _noop, lambda s: finalize(s, chunks), where)
    recorder.on_chunk = make_on_chunk(span, chunks, recorder)
    iterator: Any = iterate(stream, recorder) if iterate is not None else None
    if iterator is None:
        iterator = traced_iterator(stream._iterator, recorder)  # a generator: has gi_running
    response = stream.response
    close = _unbound(response, "close")

    def close_and_finish() -> None:
        close()
        if not iterator.gi_running:  # running: the SDK closes the response from inside the iteration
            recorder.finish()

    # Hook first, swap last: if hooking fails, the caller's stream stays untouched.
    response.close = close_and_finish
    stream._iterator = iterator
    recorder.attach(stream)
    return stream


def trace_async_stream(
    span: ActiveSpan,
    stream: Any,
    make_on_chunk: Callable[[ActiveSpan, list[Any], StreamRecorder], Callable[[Any], None]],
    finalize: Callable[[ActiveSpan, list[Any]], None],
    where: str,
    iterate: Callable[[Any, StreamRecorder], AsyncIterator[Any] | None] | None = None,
) -> Any:
    """Async version of ``trace_sync_stream`` (hooks ``stream.response.aclose``)."""
    chunks: list[Any] = []
    recorder = StreamRecorder(span, _noop, lambda s: finalize(s, chunks), where)
    recorder.on_chunk = make_on_chunk(span, chunks, recorder)
    iterator: Any = iterate(stream, recorder) if iterate is not None else None
    if iterator is None:
        iterator = traced_async_iterator(stream._iterator, recorder)  # an async generator: has ag_running
    response = stream.response
    aclose = _unbound(response, "aclose")

    async def aclose_and_finish() -> None:
        await aclose()
        if not iterator.ag_running:
            recorder.finish()

    response.aclose = aclose_and_finish
    stream._iterator = iterator
    recorder.attach(stream)
    return stream


def _noop(chunk: Any) -> None:
    return None


def _unbound(response: Any, name: str) -> Callable[[], Any]:
    """``response.<name>`` as a callable that does not keep ``response`` alive.

    The hook installed in its place is stored on the response itself: a hook holding the bound method
    would make a reference cycle (response -> hook -> bound method -> response), so every stream's
    response, request and buffers would wait for the cyclic garbage collector instead of being freed
    when the caller drops the stream, and the collector would run several times as often.
    """
    method = getattr(response, name)
    function = getattr(method, "__func__", None)
    if getattr(method, "__self__", None) is not response or function is None:
        return cast(Callable[[], Any], method)  # not the response's own method: nothing to break
    target = weakref.ref(response)

    def call() -> Any:
        owner = target()
        return function(owner) if owner is not None else None

    return call
