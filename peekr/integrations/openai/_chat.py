"""OpenAI Chat Completions: ``create`` (incl. ``stream=True``), ``parse`` and the ``.stream()`` helper.

``.stream()`` is not patched: it calls ``create(stream=True)`` (sync: on ``__enter__``; async: the
coroutine is created eagerly and awaited in ``__aenter__``), so one helper call is one span.

Stream usage (PROVIDERS.md P6). Streamed chat completions carry token counts only with
``stream_options={"include_usage": True}``, which adds a last chunk with ``choices == []``. When
the caller did not mention ``include_usage``, ``with_stream_usage`` asks for it on a copy of the
keyword arguments and removes exactly that chunk from what the caller iterates, and the
``"usage": null`` member the request adds to every other chunk from the events before the SDK parses
them, so their code sees the stream it would have seen (the same chunks, the same fields set) while
the span gets the real counts. It does so only while peekr is
recording the call (the span exists), never for ``with_raw_response`` / ``with_streaming_response``
calls (the caller may read the raw bytes), and never when ``inject_stream_usage`` is off.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from ..._errors import handle_internal_errors
from ..._tracer import ActiveSpan
from .._streams import StreamRecorder
from .._wrap import _in_call
from ._common import (
    PROVIDER,
    SDK,
    is_raw_response_call,
    provider_of,
    record_usage,
    request_attribute,
    set_captured,
    set_first_content,
    set_response_id,
)

__all__ = [
    "NAME",
    "describe_chat",
    "chat_stream_callbacks",
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
        if options.get("include_usage") is not None:
            return None  # the caller decided (True: they iterate the usage chunk themselves)
        return {**kwargs, "stream_options": {**options, "include_usage": True}}
    if options is None or isinstance(options, SDK.unset):
        return {**kwargs, "stream_options": {"include_usage": True}}
    return None


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
_NULL_USAGE_CUT = len(_NULL_USAGE_TAIL)
_NULL_USAGE_SPACED_CUT = len(_NULL_USAGE_SPACED_TAIL)


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


def _skip_usage_events(events: Iterator[Any], removed: list[Any]) -> Iterator[Any]:
    sse_class = _SSE
    for sse in events:
        if type(sse) is sse_class:  # the SDK's own event: read and replace ``_data`` (``data`` returns it)
            data = sse._data
            if data.endswith("null}"):  # a content chunk: the common case inline
                if data.endswith(_NULL_USAGE_TAIL):
                    sse._data = data[:-_NULL_USAGE_CUT] + "}"
                elif data.endswith(_NULL_USAGE_SPACED_TAIL):
                    sse._data = data[:-_NULL_USAGE_SPACED_CUT] + "}"
                yield sse
                continue
        else:
            data = sse.data
            if data.endswith("null}"):
                yield sse
                continue
        if '"usage"' not in data:
            yield sse
            continue
        usage = _pass_on(sse, data)
        if usage is None:
            yield sse
        else:
            removed.append(usage)


def _hidden(sse: Any) -> Any:
    """``_skip_usage_events`` for one event: None to pass it on (its null usage member taken out), or
    the usage-only chunk it is."""
    if type(sse) is _SSE:
        data = sse._data
        if data.endswith(_NULL_USAGE_TAIL):
            sse._data = data[:-_NULL_USAGE_CUT] + "}"
            return None
    else:
        data = sse.data
    if data.endswith("null}") and not data.endswith(_NULL_USAGE_SPACED_TAIL) or '"usage"' not in data:
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
        return _skip_usage_events(self._decoder.iter_bytes(iterator), self._removed)

    def aiter_bytes(self, iterator: Any) -> AsyncIterator[Any]:
        return _ASkipUsageEvents(self._decoder.aiter_bytes(iterator), self._removed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._decoder, name)


def _hide_usage_chunk(result: Any) -> None:
    # Runs right after the caller's request, outside peekr's span bookkeeping, so the chunk we asked
    # for is hidden even if recording this span fails later.
    with handle_internal_errors(f"{NAME}.stream_usage"):
        if not isinstance(result, (SDK.Stream, SDK.AsyncStream)):
            return
        global _SSE
        if _SSE is None:
            _SSE = _event_class()
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


def chat_stream_callbacks(
    hidden: list[Any],
) -> tuple[
    Callable[[ActiveSpan, list[Any], StreamRecorder], Callable[[Any], None]], Callable[[ActiveSpan, list[Any]], None]
]:
    """``(make_on_chunk, finalize)`` for one streamed chat completion (see ``trace_sync_stream``).

    The per-chunk callback keeps the few strings the span needs, not the chunk objects: holding
    every ``ChatCompletionChunk`` of a long stream alive until it ends cost more per chunk (memory
    churn, cache misses; measured ~3 µs/chunk on the benchmark machine) than reading five
    attributes as it passes. ``pieces`` gets the text of choice 0 as plain strings and anything
    rarer as tuples; ``finalize`` joins them once.
    """
    model: Any = None
    response_id: Any = None  # every chunk carries the completion's id: kept from the first that has one
    last: Any = None  # the last chunk: usage arrives there when the caller asked for it
    finish_reason: Any = None
    waiting_for_content = True

    def make_on_chunk(span: ActiveSpan, pieces: list[Any], recorder: StreamRecorder) -> Callable[[Any], None]:
        append = pieces.append

        def on_chunk(chunk: Any) -> None:
            nonlocal model, response_id, last, finish_reason, waiting_for_content
            if last is None:
                model = chunk.model
            if response_id is None:  # once: Azure's first chunk (prompt filter results) has id ""
                chunk_id = getattr(chunk, "id", None)
                if isinstance(chunk_id, str) and chunk_id:
                    response_id = chunk_id
            last = chunk
            for choice in chunk.choices:
                delta = choice.delta
                if delta is None:
                    continue
                content = delta.content or getattr(delta, "refusal", None)
                tool_calls = delta.tool_calls
                if content:
                    if choice.index == 0:
                        append(content)
                    else:
                        append(("text", choice.index, content))
                if tool_calls:
                    append(("tools", choice.index, tool_calls))
                if finish_reason is None and choice.finish_reason is not None:
                    finish_reason = choice.finish_reason
                if waiting_for_content and (content or tool_calls):
                    waiting_for_content = False
                    if span.is_recording:  # not after close(): an ended span belongs to the bus thread
                        set_first_content(span)

        return on_chunk

    def finalize(span: ActiveSpan, pieces: list[Any]) -> None:
        attributes = span.attributes
        if response_id is not None:
            attributes["response_id"] = response_id
        if model:
            attributes["model"] = model
        for chunk in (*hidden[::-1], last):
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                _usage(attributes, usage)
                break
        if finish_reason is not None:
            attributes["finish_reason"] = str(finish_reason)
        first: list[str] = []
        texts: dict[int, list[str]] = {}
        calls: dict[tuple[int, int], dict[str, Any]] = {}
        for piece in pieces:
            if type(piece) is str:
                first.append(piece)
            elif piece[0] == "text":
                texts.setdefault(piece[1], []).append(piece[2])
            else:
                _add_tool_call_pieces(calls, piece[1], piece[2])
        if first:
            texts[0] = first
        if texts:
            joined = ["".join(texts[i]) for i in sorted(texts)]
            set_captured(attributes, "output", joined[0] if len(joined) == 1 else joined)
        if calls:
            set_captured(attributes, "tool_calls", [calls[key] for key in sorted(calls)])

    return make_on_chunk, finalize


def hidden_usage_chunks(stream: Any) -> list[Any]:
    """The usage chunk(s) ``with_stream_usage`` hid from the caller (filled while the stream runs)."""
    hidden = stream.__dict__.get("_peekr_usage_chunks")
    return hidden if hidden is not None else []


def _add_tool_call_pieces(calls: dict[tuple[int, int], dict[str, Any]], index: int, pieces: Any) -> None:
    for piece in pieces:  # id and name arrive once, the arguments in fragments
        call = calls.get((index, piece.index))
        if call is None:
            call = calls[(index, piece.index)] = {"id": None, "type": "function", "name": None, "arguments": ""}
        if piece.id:
            call["id"] = piece.id
        function = piece.function
        if function is not None:
            if function.name:
                call["name"] = function.name
            if function.arguments:
                call["arguments"] += function.arguments
