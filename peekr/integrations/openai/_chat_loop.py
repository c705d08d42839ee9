"""Streamed chat completions: what peekr keeps of each chunk, and the SDK's stream loop with that step inside it.

``ChatStream`` holds what the span needs of one streamed chat completion (the few strings, not the chunks:
holding every ``ChatCompletionChunk`` of a long stream alive until it ends cost more per chunk, in memory
churn and cache misses, than reading five attributes as it passes). Its ``on_chunk`` is the per-chunk step
of the shared ``traced_iterator``; ``iterate`` replaces that generator, when it can, with one that runs the
SDK's own stream loop (``Stream.__stream__`` / ``AsyncStream.__stream__``, copied as it is) with the traced
iterator's step and ``on_chunk``'s body inside: one generator step and no Python call per chunk where the
SDK's loop plus peekr's traced generator took two steps and a call. Streams of the other endpoints on the same
``Stream`` class (Responses) run the same copy through ``sdk_loop`` / ``sdk_aloop`` with the integration's
``on_chunk`` called per chunk: one generator step fewer per event. Used only for the SDK's own ``Stream``
and ``AsyncStream`` whose loop has the names this module knows (``_loop_known``), and only while the SDK's
generator has not started; anything else gets the traced iterator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ... import _errors as _faults
from ..._tracer import ActiveSpan
from .._streams import StreamRecorder
from ._common import record_usage, set_captured, set_first_content

__all__ = ["ChatStream", "sdk_aloop", "sdk_loop"]

# What ``Stream.__stream__`` / ``AsyncStream.__stream__`` read (``co_names``) in the SDK release this module's
# copies follow (openai 3.60); another release or someone else's patch gets the traced iterator.
_SYNC_LOOP_NAMES = (
    "cast",
    "Any",
    "_cast_to",
    "response",
    "_client",
    "_process_response_data",
    "_iter_events",
    "_options",
    "stream_mode",
    "data",
    "startswith",
    "event",
    "json",
    "is_mapping",
    "get",
    "isinstance",
    "str",
    "APIError",
    "request",
    "synthesize_event_and_data",
    "close",
)
_ASYNC_LOOP_NAMES = (
    *_SYNC_LOOP_NAMES[:11],
    "http_version",
    "drain_response_async",
    *_SYNC_LOOP_NAMES[11:-1],
    "aclose",
)

_sdk: dict[str, Any] | None = None  # the SDK's pieces the copies use, once known (empty: not fusable)


def _loop_known() -> dict[str, Any]:
    """The SDK's ``Stream``, ``AsyncStream`` and what their loops call, or ``{}`` when the loops are not the
    ones this module copies."""
    global _sdk
    if _sdk is None:
        _sdk = {}
        try:
            from openai import _streaming
            from openai._exceptions import APIError
            from openai._utils import is_mapping
        except ImportError:  # pragma: no cover - moved in another SDK release: the traced iterator
            return _sdk
        drain = getattr(_streaming, "drain_response_async", None)
        for cls, names in ((_streaming.Stream, _SYNC_LOOP_NAMES), (_streaming.AsyncStream, _ASYNC_LOOP_NAMES)):
            function = cls.__dict__.get("__stream__")
            code = getattr(function, "__code__", None)
            if code is None or code.co_names != names or function.__module__ != _streaming.__name__:
                return _sdk
        if (
            drain is None
            or getattr(_streaming, "APIError", None) is not APIError
            or getattr(_streaming, "is_mapping", None) is not is_mapping
        ):
            return _sdk  # pragma: no cover - the loop's globals are not these
        _sdk.update(
            Stream=_streaming.Stream,
            AsyncStream=_streaming.AsyncStream,
            sync_code=_streaming.Stream.__stream__.__code__,
            async_code=_streaming.AsyncStream.__stream__.__code__,
            APIError=APIError,
            is_mapping=is_mapping,
            drain=drain,
        )
    return _sdk


def _api_error(stream: Any, data: Any, sdk: dict[str, Any]) -> Exception:
    """The ``APIError`` the SDK's loop raises for an ``error`` event (the same message and body)."""
    message = None
    error = data.get("error")
    if sdk["is_mapping"](error):
        message = error.get("message")
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return sdk["APIError"](message=message, request=stream.response.request, body=data["error"])  # type: ignore[no-any-return]


class ChatStream:
    """The span's view of one streamed chat completion: ``make_on_chunk``/``on_chunk`` and ``finalize`` for
    ``trace_sync_stream``/``trace_async_stream``, and ``iterate``/``aiterate``, their fused loops."""

    __slots__ = ("_append", "finish_reason", "hidden", "last", "model", "plain", "response_id", "span", "waiting")

    def __init__(self, hidden: list[Any]) -> None:
        self.hidden = hidden  # the usage chunk(s) ``with_stream_usage`` hid from the caller
        self.model: Any = None
        self.response_id: Any = None  # every chunk carries the completion's id: kept from the first that has one
        self.last: Any = None  # the last chunk: usage arrives there when the caller asked for it
        self.finish_reason: Any = None
        self.waiting = True  # for the first content (time to first token)
        self.plain = True  # every piece so far is text of choice 0 (a plain string)
        self.span: Any = None
        self._append: Callable[[Any], None] = _ignore

    def make_on_chunk(self, span: ActiveSpan, pieces: list[Any], recorder: StreamRecorder) -> Callable[[Any], None]:
        """``on_chunk``, appending to ``pieces`` (text of choice 0 as plain strings, anything rarer as tuples)."""
        self.span = span
        self._append = pieces.append
        return self.on_chunk

    def on_chunk(self, chunk: Any) -> None:
        """Keep what the span needs of ``chunk`` (``_loop`` and ``_aloop`` inline this body: keep them alike)."""
        if self.last is None:
            self.model = chunk.model
        if self.response_id is None:  # once: Azure's first chunk (prompt filter results) has id ""
            self._first_id(chunk)
        self.last = chunk
        for choice in chunk.choices:
            # The models' fields from their ``__dict__`` (the SDK's models keep every field there): an attribute
            # read on a pydantic model goes through its ``__getattr__`` hook, a lookup for each.
            fields = choice.__dict__
            delta = fields["delta"]
            if delta is None:
                continue
            delta_fields = delta.__dict__
            content = delta_fields["content"] or delta_fields.get("refusal")
            tool_calls = delta_fields["tool_calls"]
            if content:
                if fields["index"] == 0:
                    self._append(content)
                else:
                    self._rare("text", fields["index"], content)
            if tool_calls:
                self._rare("tools", fields["index"], tool_calls)
            if fields["finish_reason"] is not None and self.finish_reason is None:
                self.finish_reason = fields["finish_reason"]
            if self.waiting and (content or tool_calls):
                self._first_content()

    def _first_id(self, chunk: Any) -> None:
        chunk_id = getattr(chunk, "id", None)
        if isinstance(chunk_id, str) and chunk_id:
            self.response_id = chunk_id

    def _rare(self, kind: str, index: int, value: Any) -> None:
        """Text of a choice other than 0 (``kind`` "text") or tool-call fragments ("tools"): a tuple piece."""
        self.plain = False
        self._append((kind, index, value))

    def _first_content(self) -> None:
        """Time to first token = now (the first chunk with text or a tool call)."""
        self.waiting = False
        if self.span.is_recording:  # not after close(): an ended span belongs to the bus thread
            set_first_content(self.span)

    def finalize(self, span: ActiveSpan, pieces: list[Any]) -> None:
        """Fill the span from what the chunks left (once, when the stream ends)."""
        attributes = span.attributes
        if self.response_id is not None:
            attributes["response_id"] = self.response_id
        if self.model:
            attributes["model"] = self.model
        for chunk in (*self.hidden[::-1], self.last):
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                record_usage(attributes, usage, "prompt", "completion")
                break
        if self.finish_reason is not None:
            attributes["finish_reason"] = str(self.finish_reason)
        if self.plain:  # the common case: text of choice 0 only
            if pieces:
                set_captured(attributes, "output", "".join(pieces))
            return
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

    def iterate(self, stream: Any, recorder: StreamRecorder) -> Iterator[Any] | None:
        """The SDK's loop over ``stream`` with this chunk step inside (``sdk_loop``), or None when it cannot be used."""
        return sdk_loop(stream, recorder, self)

    def aiterate(self, stream: Any, recorder: StreamRecorder) -> AsyncIterator[Any] | None:
        """Async ``iterate`` (``sdk_aloop``)."""
        return sdk_aloop(stream, recorder, self)


def sdk_loop(stream: Any, recorder: StreamRecorder, chat: ChatStream | None = None) -> Iterator[Any] | None:
    """The SDK's loop over ``stream`` (an ``openai.Stream`` of any endpoint) with the traced iterator's step
    inside (``_loop``; ``chat``'s step inline for a chat stream, else ``recorder.on_chunk``), or None when
    the loop is not the SDK's own, as this module knows it (then the caller wraps it in ``traced_iterator``)."""
    sdk = _loop_known()
    if not sdk or type(stream) is not sdk["Stream"]:
        return None
    original = stream.__dict__.get("_iterator")
    if getattr(original, "gi_code", None) is not sdk["sync_code"] or original.gi_frame is None:
        return None  # not the SDK's own loop generator (someone else swapped it in)
    if original.gi_running or original.gi_suspended:
        return None  # pragma: no cover - started before peekr saw it: it keeps its own loop
    return _loop(stream, recorder, sdk, chat)


def sdk_aloop(stream: Any, recorder: StreamRecorder, chat: ChatStream | None = None) -> AsyncIterator[Any] | None:
    """Async ``sdk_loop`` (``_aloop``, over an ``openai.AsyncStream``)."""
    sdk = _loop_known()
    if not sdk or type(stream) is not sdk["AsyncStream"]:
        return None
    original = stream.__dict__.get("_iterator")
    if getattr(original, "ag_code", None) is not sdk["async_code"] or original.ag_frame is None:
        return None
    if original.ag_running or original.ag_frame.f_lasti:
        return None  # pragma: no cover - started before peekr saw it
    return _aloop(stream, recorder, sdk, chat)


def _loop(stream: Any, recorder: StreamRecorder, sdk: dict[str, Any], chat: ChatStream | None) -> Iterator[Any]:
    """``Stream.__stream__`` (as the SDK has it) with ``traced_iterator``'s step inside: ``chat``'s ``on_chunk``
    body inline, or (``chat`` None) the recorder's ``on_chunk`` called."""
    cast_to = stream._cast_to
    response = stream.response
    process_data = stream._client._process_response_data
    iterator = stream._iter_events()
    legacy = stream._options is None or stream._options.stream_mode == "legacy"
    is_mapping = sdk["is_mapping"]
    append = chat._append if chat is not None else _ignore
    settled = False
    try:
        try:
            for sse in iterator:
                if sse.data.startswith("[DONE]"):
                    break
                event = sse.event  # a property: read once (the SDK's loop reads it up to three times)
                # the SDK special-cases the Assistants ``thread.`` events (no "event" key in the data)
                if legacy and event and event.startswith("thread."):
                    data = sse.json()
                    if event == "error" and is_mapping(data) and data.get("error"):
                        raise _api_error(stream, data, sdk)
                    chunk = process_data(data={"data": data, "event": event}, cast_to=cast_to, response=response)
                else:
                    data = sse.json()
                    if legacy and is_mapping(data) and data.get("error"):
                        raise _api_error(stream, data, sdk)
                    chunk = process_data(
                        data={"data": data, "event": event}
                        if stream._options is not None and stream._options.synthesize_event_and_data
                        else data,
                        cast_to=cast_to,
                        response=response,
                    )
                # ``traced_iterator``'s step with ``on_chunk``'s body (first chunk and fault injection: ``chunk()``)
                if _faults._inject or recorder._first or recorder._done:
                    recorder.chunk(chunk)
                elif chat is None:  # a stream of another endpoint (Responses): the integration's ``on_chunk``
                    try:
                        recorder.on_chunk(chunk)
                    except Exception as exc:
                        recorder.failed(exc)
                else:
                    try:
                        if not settled:  # until a chunk had an id (the first, unless it is Azure's)
                            if chat.last is None:  # the first chunk's ``on_chunk`` failed before keeping it
                                chat.model = chunk.model
                            if chat.response_id is None:
                                chat._first_id(chunk)
                            settled = chat.response_id is not None
                        chat.last = chunk
                        for choice in chunk.choices:
                            fields = choice.__dict__
                            delta = fields["delta"]
                            if delta is None:
                                continue
                            delta_fields = delta.__dict__
                            content = delta_fields["content"] or delta_fields.get("refusal")
                            tool_calls = delta_fields["tool_calls"]
                            if content:
                                if fields["index"] == 0:
                                    append(content)
                                else:
                                    chat._rare("text", fields["index"], content)
                            if tool_calls:
                                chat._rare("tools", fields["index"], tool_calls)
                            if fields["finish_reason"] is not None and chat.finish_reason is None:
                                chat.finish_reason = fields["finish_reason"]
                            if chat.waiting and (content or tool_calls):
                                chat._first_content()
                    except Exception as exc:
                        recorder.failed(exc)
                yield chunk
        finally:
            response.close()  # the SDK's loop closes the response however it ends
    except BaseException as exc:
        recorder.finish(None if isinstance(exc, GeneratorExit) else exc)
        raise
    recorder.finish()


async def _aloop(
    stream: Any, recorder: StreamRecorder, sdk: dict[str, Any], chat: ChatStream | None
) -> AsyncIterator[Any]:
    """``AsyncStream.__stream__`` (as the SDK has it) with ``traced_async_iterator``'s step inside (as ``_loop``)."""
    cast_to = stream._cast_to
    response = stream.response
    process_data = stream._client._process_response_data
    iterator = stream._iter_events()
    legacy = stream._options is None or stream._options.stream_mode == "legacy"
    is_mapping = sdk["is_mapping"]
    append = chat._append if chat is not None else _ignore
    settled = False
    try:
        try:
            async for sse in iterator:
                if sse.data.startswith("[DONE]"):
                    # the SDK drains an HTTP/1.1 body so the connection can be reused
                    if response.http_version == "HTTP/1.1":
                        await sdk["drain"](response)
                    break
                event = sse.event  # as in ``_loop``
                if legacy and event and event.startswith("thread."):
                    data = sse.json()
                    if event == "error" and is_mapping(data) and data.get("error"):
                        raise _api_error(stream, data, sdk)
                    chunk = process_data(data={"data": data, "event": event}, cast_to=cast_to, response=response)
                else:
                    data = sse.json()
                    if legacy and is_mapping(data) and data.get("error"):
                        raise _api_error(stream, data, sdk)
                    chunk = process_data(
                        data={"data": data, "event": event}
                        if stream._options is not None and stream._options.synthesize_event_and_data
                        else data,
                        cast_to=cast_to,
                        response=response,
                    )
                # as in ``_loop``
                if _faults._inject or recorder._first or recorder._done:
                    recorder.chunk(chunk)
                elif chat is None:  # a stream of another endpoint (Responses): the integration's ``on_chunk``
                    try:
                        recorder.on_chunk(chunk)
                    except Exception as exc:
                        recorder.failed(exc)
                else:
                    try:
                        if not settled:  # until a chunk had an id (the first, unless it is Azure's)
                            if chat.last is None:  # the first chunk's ``on_chunk`` failed before keeping it
                                chat.model = chunk.model
                            if chat.response_id is None:
                                chat._first_id(chunk)
                            settled = chat.response_id is not None
                        chat.last = chunk
                        for choice in chunk.choices:
                            fields = choice.__dict__
                            delta = fields["delta"]
                            if delta is None:
                                continue
                            delta_fields = delta.__dict__
                            content = delta_fields["content"] or delta_fields.get("refusal")
                            tool_calls = delta_fields["tool_calls"]
                            if content:
                                if fields["index"] == 0:
                                    append(content)
                                else:
                                    chat._rare("text", fields["index"], content)
                            if tool_calls:
                                chat._rare("tools", fields["index"], tool_calls)
                            if fields["finish_reason"] is not None and chat.finish_reason is None:
                                chat.finish_reason = fields["finish_reason"]
                            if chat.waiting and (content or tool_calls):
                                chat._first_content()
                    except Exception as exc:
                        recorder.failed(exc)
                yield chunk
        finally:
            await response.aclose()
    except BaseException as exc:
        recorder.finish(None if isinstance(exc, GeneratorExit) else exc)
        raise
    recorder.finish()


def _ignore(piece: Any) -> None:
    return None


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
