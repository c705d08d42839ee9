"""OpenAI Chat Completions: ``create`` (incl. ``stream=True``), ``parse`` and the ``.stream()`` helper.

``.stream()`` is not patched: it calls ``create(stream=True)`` (sync: on ``__enter__``; async: the
coroutine is created eagerly and awaited in ``__aenter__``), so one helper call is one span.

Stream usage (PROVIDERS.md P6). Streamed chat completions carry token counts only with
``stream_options={"include_usage": True}``, which adds a last chunk with ``choices == []``. When
the caller did not mention ``include_usage``, ``with_stream_usage`` asks for it on a copy of the
keyword arguments (in ``extra_body``, past the SDK's parameter transform) and removes exactly that
chunk from what the caller iterates, and the ``"usage": null`` member the request adds to every
other chunk from the events before the SDK parses them, so their code sees the stream it would have
seen (the same chunks, the same fields set) while the span gets the real counts. It does so only
while peekr is recording the call (the span exists), never for ``with_raw_response`` / ``with_streaming_response``
calls (the caller may read the raw bytes), and never when ``inject_stream_usage`` is off.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from ..._errors import handle_internal_errors
from ..._tracer import ActiveSpan
from .._wrap import _in_call
from ._common import (
    PROVIDER,
    SDK,
    is_raw_response_call,
    provider_of,
    record_usage,
    request_attribute,
    set_captured,
    set_response_id,
)

__all__ = [
    "NAME",
    "describe_chat",
    "hidden_usage_chunks",
    "record_chat_completion",
    "with_stream_usage",
]

NAME = "openai.chat.completions"

_REQUEST_KEYS = frozenset(
    (
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "n",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "service_tier",
        "modalities",
        "verbosity",
        "stream",
    )
)


def describe_chat(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Span name and the attributes known before the call."""
    model = kwargs.get("model")
    attributes: dict[str, Any] = {"provider": provider_of(instance)}
    if isinstance(model, str):
        attributes["model"] = model
    if kwargs.get("stream") is True:
        attributes["stream"] = True
    set_captured(attributes, "input", kwargs.get("messages"))
    request = request_attribute(kwargs, _REQUEST_KEYS)
    if request:
        set_captured(attributes, "request", request)
    return NAME, attributes


# -- usage injection -------------------------------------------------------------------------------


def _with_usage(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of ``kwargs`` asking for stream usage, or None when the call should go as it is."""
    if is_raw_response_call(kwargs):
        return None
    options = kwargs.get("stream_options")
    if isinstance(options, Mapping):
        asked = _asking(options)
        return None if asked is None else {**kwargs, "stream_options": asked}
    if options is not None and not isinstance(options, SDK.unset):
        return None
    # In ``extra_body``, which the SDK merges into the JSON body as it is: as a ``stream_options`` argument the
    # SDK would run its parameter transform over it, ~126k instructions (~15 µs) per streamed call.
    extra = kwargs.get("extra_body")
    if extra is None:
        return {**kwargs, "extra_body": {"stream_options": {"include_usage": True}}}
    if not isinstance(extra, Mapping):
        return None
    given = extra.get("stream_options")
    asked = {"include_usage": True} if given is None else _asking(given) if isinstance(given, Mapping) else None
    return None if asked is None else {**kwargs, "extra_body": {**extra, "stream_options": asked}}


def _asking(options: Mapping[str, Any]) -> dict[str, Any] | None:
    """The caller's ``stream_options`` with ``include_usage`` added, or None when they set it themselves
    (True: they iterate the usage chunk themselves)."""
    if options.get("include_usage") is not None:
        return None
    return {**options, "include_usage": True}


def _usage_event(data: str) -> Any:
    """The usage-only chunk in ``data`` (``choices == []`` and a ``usage`` object, as attribute
    views), or None for any other event.

    Runs for every server-sent event of a stream peekr asked usage for that ``_pass_on`` did not
    already let through, so only what may be that chunk is parsed here.
    """
    if data.endswith("null}") or '"usage"' not in data:
        return None
    try:
        chunk = json.loads(data)
    except ValueError:
        return None  # the SDK reports it as it would without peekr
    if isinstance(chunk, dict) and chunk.get("choices") == [] and isinstance(chunk.get("usage"), dict):
        return _Fields(chunk)
    return None


class _Fields:
    """Attribute access to a parsed JSON object (what ``record_usage`` reads from the SDK's models)."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        value = self._data.get(name)
        return _Fields(value) if isinstance(value, dict) else value


# Once usage is asked for, OpenAI ends every other chunk with this member (compact JSON); the fake
# provider and some proxies write it with spaces.
_NULL_USAGE = ',"usage":null'
_NULL_USAGE_SPACED = ', "usage": null'
_NULL_USAGE_TAIL = _NULL_USAGE + "}"
_NULL_USAGE_SPACED_TAIL = _NULL_USAGE_SPACED + "}"


def _without_null_usage(data: str) -> str | None:
    """``data`` without its top-level ``"usage": null`` member, or None when it has none that is
    certainly top-level.

    ``,"usage"`` is a key wherever it appears (a quote inside a JSON string is escaped), and it belongs
    to the outermost object when nothing but scalar members follows it up to the closing brace (e.g. a
    later ``"obfuscation"`` string); anything else is left as it is.
    """
    for member in (_NULL_USAGE, _NULL_USAGE_SPACED):
        at = data.rfind(member)
        if at < 0:
            continue
        rest = data[at + len(member) :]
        if rest == "}" or (
            rest[:1] == ","
            and rest[-1:] == "}"
            and rest.count("}") == 1
            and "{" not in rest
            and "[" not in rest
            and "]" not in rest
        ):
            return data[:at] + rest
    return None


def _event_class() -> Any:
    """The SDK's ``ServerSentEvent`` (its ``data`` property returns the ``_data`` attribute), or None."""
    try:
        from openai._streaming import ServerSentEvent
    except ImportError:  # pragma: no cover - moved in another SDK release: events pass on as they are
        return None
    data = getattr(ServerSentEvent, "data", None)
    return ServerSentEvent if isinstance(data, property) else None


_SSE: Any = None  # set by ``_hide_usage_chunk`` (the SDK is imported by then)


def _set_data(sse: Any, data: str, new: str) -> None:
    """Give the SDK's ``ServerSentEvent`` the text ``new`` instead of ``data``; an event of any other
    class keeps its text."""
    if type(sse) is _SSE and sse._data is data:
        sse._data = new


def _strip_null_usage(sse: Any, data: str) -> bool:
    """Take the ``"usage": null`` member out of a content chunk's text (``sse`` is the SDK's event, ``data``
    its ``_data``): True when it was the last member (the common case), False for anything else."""
    # ``removesuffix`` checks and cuts in one call (and is cheaper than ``endswith``: one argument, no parsing)
    stripped = data.removesuffix(_NULL_USAGE_TAIL)  # as OpenAI writes it: one call for nearly every event
    if len(stripped) == len(data):  # (a str subclass gets a copy back even when nothing was cut)
        stripped = data.removesuffix(_NULL_USAGE_SPACED_TAIL)
        if len(stripped) == len(data):
            return False
    sse._data = stripped + "}"
    return True


def _skip_usage_events(events: Iterator[Any], removed: list[Any]) -> Iterator[Any]:
    """``_hidden`` over ``events`` (a decoder's events that are not the SDK's own ``ServerSentEvent``, or the
    SDK's events from a decoder ``_fused_events`` does not know)."""
    for sse in events:
        usage = _hidden(sse)
        if usage is None:
            yield sse
        else:
            removed.append(usage)


def _hidden(sse: Any) -> Any:
    """The usage filter for one event: None to pass it on (its null usage member taken out), or the
    usage-only chunk it is."""
    if type(sse) is _SSE:  # the SDK's own event: read and replace ``_data`` (``data`` returns it)
        data = sse._data
        if _strip_null_usage(sse, data):
            return None
    else:
        data = sse.data
    if data.endswith("null}") or '"usage"' not in data:
        return None
    return _pass_on(sse, data)


def _pass_on(sse: Any, data: str) -> Any:
    """None to pass ``sse`` on to the SDK (without the ``"usage": null`` member peekr's request added to
    it), or the usage-only chunk peekr asked for, which the caller does not see."""
    stripped = _without_null_usage(data)
    if stripped is not None:
        _set_data(sse, data, stripped)
        return None
    return _usage_event(data)


# The SDK's decoder loop with the filter in it (``_fused_events``): the SDK's ``SSEDecoder.iter_bytes`` runs
# ``_decode_lines`` over ``_SSELineDecoder().feed(chunk)`` (two generators per event), and a filter around it
# would be a third; ``_fused_events`` is one generator doing all three. Used only for a decoder whose
# methods are the SDK's own, as this module knows them (``_fusable_decoder``); any other gets the filter.
_LINE_DECODER: Any = None  # ``openai._streaming._SSELineDecoder``, set by ``_hide_usage_chunk``
_SDK_DECODER: Any = None  # ``openai._streaming.SSEDecoder`` when its loop is the one ``_fused_events`` copies
_SDK_LOOP_NAMES = {
    "iter_bytes": ("_SSELineDecoder", "_decode_lines", "feed", "finish", "_reset"),
    "aiter_bytes": ("_SSELineDecoder", "_decode_lines", "feed", "finish", "_reset"),
    "_decode_lines": ("decode",),
}


def _fusable_decoder() -> Any:
    """The SDK's ``SSEDecoder`` class when ``_fused_events`` can stand in for its loop, else None."""
    global _LINE_DECODER
    try:
        from openai import _streaming
    except ImportError:  # pragma: no cover - the SDK is imported by then
        return None
    decoder = getattr(_streaming, "SSEDecoder", None)
    line_decoder = getattr(_streaming, "_SSELineDecoder", None)
    if decoder is None or line_decoder is None or _SSE is None:
        return None
    for name, names in _SDK_LOOP_NAMES.items():
        function = getattr(decoder, name, None)
        code = getattr(function, "__code__", None)
        if code is None or code.co_names != names or getattr(function, "__module__", None) != _streaming.__name__:
            return None  # another SDK release (or someone else's patch): the plain filter
    _LINE_DECODER = line_decoder
    return decoder


def _fused_events(decoder: Any, iterator: Iterator[bytes], removed: list[Any]) -> Iterator[Any]:
    """``decoder.iter_bytes(iterator)`` (the SDK's loop, as it is) minus the usage chunk and the null usage
    members: each event costs one generator step here instead of three (``_UsageHidingDecoder``)."""
    lines = _LINE_DECODER()
    decode = decoder.decode
    try:
        for chunk in iterator:
            for raw_line in lines.feed(chunk):
                sse = decode(raw_line.decode("utf-8"))
                if sse:
                    # ``_strip_null_usage`` inline: the SDK's own ``decode`` makes the SDK's own event, whose
                    # text is a ``str`` (a join), so ``removesuffix`` gives it back itself when nothing is cut
                    data = sse._data
                    stripped = data.removesuffix(_NULL_USAGE_TAIL)
                    if stripped is data:
                        stripped = data.removesuffix(_NULL_USAGE_SPACED_TAIL)
                    if stripped is not data:
                        sse._data = stripped + "}"
                        yield sse
                    else:
                        usage = _hidden(sse)
                        if usage is None:
                            yield sse
                        else:
                            removed.append(usage)
        for raw_line in lines.finish():  # a last line without its newline, as the SDK's loop does
            sse = decode(raw_line.decode("utf-8"))
            if sse:  # pragma: no cover - that line is never empty, and ``decode`` makes an event only of an empty one
                usage = _hidden(sse)
                if usage is None:
                    yield sse
                else:
                    removed.append(usage)
    finally:
        decoder._reset()


class _AFusedEvents:
    """Async twin of ``_fused_events`` (the SDK's ``aiter_bytes`` loop with the filter in it): a plain async
    iterator, like ``_ASkipUsageEvents``. ``_pending`` is the line generator of the current byte chunk, left
    where the last event came from."""

    __slots__ = ("_bytes", "_decode", "_decoder", "_ended", "_lines", "_pending", "_removed")

    def __init__(self, decoder: Any, iterator: AsyncIterator[bytes], removed: list[Any]) -> None:
        self._decoder = decoder
        self._decode = decoder.decode
        self._bytes = iterator
        self._lines = _LINE_DECODER()
        self._pending: Iterator[bytes] = iter(())
        self._removed = removed
        self._ended = False

    def __aiter__(self) -> _AFusedEvents:
        return self

    async def __anext__(self) -> Any:
        decode = self._decode
        while True:
            for raw_line in self._pending:
                sse = decode(raw_line.decode("utf-8"))
                if sse:
                    data = sse._data  # as in ``_fused_events``
                    stripped = data.removesuffix(_NULL_USAGE_TAIL)
                    if stripped is data:
                        stripped = data.removesuffix(_NULL_USAGE_SPACED_TAIL)
                    if stripped is not data:
                        sse._data = stripped + "}"
                        return sse
                    usage = _hidden(sse)
                    if usage is None:
                        return sse
                    self._removed.append(usage)
            if self._ended:
                raise StopAsyncIteration
            try:
                chunk = await self._bytes.__anext__()
            except StopAsyncIteration:
                self._ended = True
                self._pending = self._lines.finish()
                self._decoder._reset()  # the SDK's loop resets its decoder when it ends
                continue
            except BaseException:
                self._ended = True
                self._pending = iter(())
                self._decoder._reset()
                raise
            self._pending = self._lines.feed(chunk)


class _ASkipUsageEvents:
    """Async twin of ``_skip_usage_events``: a plain async iterator, not an async generator, so that the
    SDK leaving it unfinished after ``[DONE]`` (it breaks out of its loop) is no abandoned async
    generator for trio's or asyncio's finalizer hooks to warn about."""

    __slots__ = ("_events", "_removed")

    def __init__(self, events: AsyncIterator[Any], removed: list[Any]) -> None:
        self._events = events
        self._removed = removed

    def __aiter__(self) -> _ASkipUsageEvents:
        return self

    async def __anext__(self) -> Any:
        while True:
            sse = await self._events.__anext__()
            usage = _hidden(sse)
            if usage is None:
                return sse
            self._removed.append(usage)


class _UsageHidingDecoder:
    """Stands in for a stream's SSE decoder: the same events, minus the usage-only chunk (kept aside) and
    the ``"usage": null`` member the request for it adds to every other chunk, so the SDK builds the very
    chunks the caller would have got without peekr (and does not parse a field per chunk for nothing).

    Swapped in on the SDK ``Stream`` before its first step (``__stream__`` reads
    ``self._decoder.iter_bytes(...)`` then), so the SDK never parses that chunk into a
    ``ChatCompletionChunk`` only for peekr to drop it. Holds no reference to the stream (an attribute
    of the stream that referred back to it would leave every stream to the cyclic garbage collector).
    """

    __slots__ = ("_decoder", "_removed")

    def __init__(self, decoder: Any, removed: list[Any]) -> None:
        self._decoder = decoder
        self._removed = removed

    def iter_bytes(self, iterator: Any) -> Iterator[Any]:
        decoder = self._decoder
        if type(decoder) is _SDK_DECODER:
            return _fused_events(decoder, iterator, self._removed)
        return _skip_usage_events(decoder.iter_bytes(iterator), self._removed)

    def aiter_bytes(self, iterator: Any) -> AsyncIterator[Any]:
        decoder = self._decoder
        if type(decoder) is _SDK_DECODER:
            return _AFusedEvents(decoder, iterator, self._removed)
        return _ASkipUsageEvents(decoder.aiter_bytes(iterator), self._removed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._decoder, name)


def _hide_usage_chunk(result: Any) -> None:
    # Runs right after the caller's request, outside peekr's span bookkeeping, so the chunk we asked
    # for is hidden even if recording this span fails later.
    with handle_internal_errors(f"{NAME}.stream_usage"):
        if not isinstance(result, (SDK.Stream, SDK.AsyncStream)):
            return
        global _SSE, _SDK_DECODER
        if _SSE is None:
            _SSE = _event_class()
            _SDK_DECODER = _fusable_decoder()
        removed: list[Any] = []
        result._decoder = _UsageHidingDecoder(result._decoder, removed)
        result._peekr_usage_chunks = removed


def _usage_request(kwargs: dict[str, Any], enabled: Callable[[], bool]) -> dict[str, Any] | None:
    # ``_in_call`` names the provider whose call the wrapper is recording here (a call of another
    # provider may enclose ours, e.g. a Gemini tool calling OpenAI): inject only into our own.
    if kwargs.get("stream") is not True or _in_call.get() != PROVIDER or not enabled():
        return None  # not a stream, or peekr is not recording this call, or switched off: send it untouched
    with handle_internal_errors(f"{NAME}.stream_usage"):
        return _with_usage(kwargs)
    return None


def with_stream_usage(original: Callable[..., Any], is_async: bool, enabled: Callable[[], bool]) -> Callable[..., Any]:
    """Wrap ``create`` (inside peekr's recording wrapper) so streamed calls report usage.

    ``enabled()`` is asked on every streamed call (``peekr.integrations.openai.inject_stream_usage``).
    The async version keeps the SDK method's shape (a plain ``def`` returning a coroutine, P1), so
    argument errors still raise at call time and introspection answers as before.
    """
    if is_async:

        @functools.wraps(original)
        def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
            patched = _usage_request(kwargs, enabled)
            if patched is None:
                return original(self, *args, **kwargs)
            return _hide_when_awaited(original(self, *args, **patched))

        return acall

    @functools.wraps(original)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        patched = _usage_request(kwargs, enabled)
        if patched is None:
            return original(self, *args, **kwargs)
        result = original(self, *args, **patched)
        _hide_usage_chunk(result)
        return result

    return call


async def _hide_when_awaited(awaitable: Any) -> Any:
    result = await awaitable
    _hide_usage_chunk(result)
    return result


# -- recording -------------------------------------------------------------------------------------


def _usage(attributes: dict[str, Any], usage: Any) -> None:
    record_usage(attributes, usage, "prompt", "completion")


def _tool_call(call: Any) -> dict[str, Any]:
    function = getattr(call, "function", None)
    if function is not None:
        return {"id": call.id, "type": "function", "name": function.name, "arguments": function.arguments}
    custom = getattr(call, "custom", None)  # custom tools: free-text input
    return {
        "id": getattr(call, "id", None),
        "type": getattr(call, "type", None),
        "name": getattr(custom, "name", None),
        "arguments": getattr(custom, "input", None),
    }


def record_chat_completion(span: ActiveSpan, completion: Any) -> None:
    """Fill the span from a ``ChatCompletion`` (or ``ParsedChatCompletion``)."""
    attributes = span.attributes
    set_response_id(attributes, completion)
    model = getattr(completion, "model", None)
    if model:
        attributes["model"] = model
    _usage(attributes, getattr(completion, "usage", None))
    choices = getattr(completion, "choices", None) or []
    texts: list[Any] = []
    calls: list[dict[str, Any]] = []
    for choice in choices:
        message = choice.message
        text = message.content
        if text is None:
            text = getattr(message, "refusal", None)
        texts.append(text)
        for call in getattr(message, "tool_calls", None) or ():
            calls.append(_tool_call(call))
    if choices and choices[0].finish_reason is not None:
        attributes["finish_reason"] = str(choices[0].finish_reason)
    output: Any = texts[0] if len(texts) == 1 else texts
    if output is not None and texts:
        set_captured(attributes, "output", output)
    if calls:
        set_captured(attributes, "tool_calls", calls)


def hidden_usage_chunks(stream: Any) -> list[Any]:
    """The usage chunk(s) ``with_stream_usage`` hid from the caller (filled while the stream runs)."""
    hidden = stream.__dict__.get("_peekr_usage_chunks")
    return hidden if hidden is not None else []
