"""What an Anthropic Messages call puts on its span: request side, final message, streamed events.

Token rule (Anthropic reports no total, and ``input_tokens`` excludes prompt-cache traffic):

* ``tokens_input``  = ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``
* ``tokens_output`` = ``output_tokens``; ``tokens_total`` = ``tokens_input + tokens_output``
* ``tokens_cache_read`` / ``tokens_cache_write`` = the cache fields, when the response reports them.

In a stream, ``message_start`` carries the input side and a placeholder ``output_tokens``; every
``message_delta`` carries the *cumulative* usage, so later values overwrite earlier ones (never
add). ``tokens_output`` is only set once a ``message_delta`` arrived: a stream cut short before it
has no real output count, and we do not invent one.

Nothing here imports the SDK: the few SDK types needed (the "not given" sentinels) are handed
over by the patch hook through ``set_sdk_types``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..._capture import capture
from ..._tracer import ActiveSpan

__all__ = [
    "SPAN_NAME",
    "describe_call",
    "StreamKeeper",
    "record_message",
    "set_sdk_types",
]

SPAN_NAME = "anthropic.messages"

_NOT_GIVEN_TYPES: tuple[type, ...] = ()
_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"
# Sampling knobs that this SDK generation no longer lists in the signature: users pass them in
# ``extra_body`` (or as keywords on older SDKs), and both places are read.
_SAMPLING = ("temperature", "top_p", "top_k")
_REQUEST_KEYS = frozenset(("max_tokens", *_SAMPLING, "stop_sequences", "tool_choice", "thinking"))
_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def set_sdk_types(not_given: tuple[type, ...]) -> None:
    """Remember the SDK's ``NotGiven``/``Omit`` classes (called by the patch hook)."""
    global _NOT_GIVEN_TYPES
    _NOT_GIVEN_TYPES = not_given


def _given(value: Any) -> bool:
    return value is not None and not isinstance(value, _NOT_GIVEN_TYPES)


def is_raw_response_call(kwargs: Mapping[str, Any]) -> bool:
    """True for ``with_raw_response`` / ``with_streaming_response`` calls (the result is no Message)."""
    headers = kwargs.get("extra_headers")
    return isinstance(headers, Mapping) and _RAW_RESPONSE_HEADER in headers


def _tool_names(tools: Any) -> list[Any]:
    # Only real sequences: iterating a user's generator would consume what the SDK must send.
    return [t.get("name") if isinstance(t, Mapping) else getattr(t, "name", None) for t in tools]


def _request(kwargs: Mapping[str, Any], stream: bool | None) -> dict[str, Any]:
    # One pass over what the caller gave (a handful of keys), not over every known parameter.
    request = {k: v for k, v in kwargs.items() if k in _REQUEST_KEYS and _given(v)}
    extra = kwargs.get("extra_body")
    if isinstance(extra, Mapping):
        for key in _SAMPLING:
            if key in extra and key not in request:
                request[key] = extra[key]
    tools = kwargs.get("tools")
    if isinstance(tools, (list, tuple)):
        request["tools"] = _tool_names(tools)
    if stream is not None:
        request["stream"] = stream
    return request


def describe_call(kwargs: Mapping[str, Any], stream: bool | None) -> tuple[str, dict[str, Any]]:
    """Span name and start attributes for a call made with ``kwargs``.

    ``stream`` is True for streams, False when the caller passed ``stream=False``, else None.
    """
    attributes: dict[str, Any] = {"provider": "anthropic"}
    model = kwargs.get("model")
    if isinstance(model, str):
        attributes["model"] = model
    if stream:
        attributes["stream"] = True
    # Captured now, not when the call ends: callers often append the reply to the same list.
    messages = kwargs.get("messages")
    system = kwargs.get("system")
    captured = capture({"system": system, "messages": messages} if _given(system) else messages)
    if captured is not None:
        attributes["input"] = captured
    request = capture(_request(kwargs, stream))
    if request:
        attributes["request"] = request
    return SPAN_NAME, attributes


def stream_flag(kwargs: Mapping[str, Any]) -> bool | None:
    """The ``stream`` argument of a ``create`` call as given (None when not given)."""
    stream = kwargs.get("stream")
    return bool(stream) if _given(stream) else None


def _set_tokens(attributes: dict[str, Any], counts: Mapping[str, int], output_known: bool) -> None:
    tokens_input = counts.get("input_tokens")
    if tokens_input is not None:
        cache_read = counts.get("cache_read_input_tokens")
        cache_write = counts.get("cache_creation_input_tokens")
        tokens_input += (cache_read or 0) + (cache_write or 0)
        attributes["tokens_input"] = tokens_input
        if cache_read is not None:
            attributes["tokens_cache_read"] = cache_read
        if cache_write is not None:
            attributes["tokens_cache_write"] = cache_write
    tokens_output = counts.get("output_tokens") if output_known else None
    if tokens_output is not None:
        attributes["tokens_output"] = tokens_output
        if tokens_input is not None:
            attributes["tokens_total"] = tokens_input + tokens_output


def _read_usage(usage: Any, counts: dict[str, int]) -> None:
    """Overwrite ``counts`` with every field ``usage`` reports (cumulative semantics)."""
    if usage is None:
        return
    for name in _USAGE_FIELDS:
        value = getattr(usage, name, None)
        if isinstance(value, int):
            counts[name] = value


def _set_output(attributes: dict[str, Any], texts: list[str], tool_calls: list[dict[str, Any]]) -> None:
    output = capture("".join(texts))
    if output is not None:
        attributes["output"] = output
    if tool_calls:
        captured = capture(tool_calls)
        if captured is not None:
            attributes["tool_calls"] = captured


def _tool_call(block_id: Any, name: Any, arguments: str) -> dict[str, Any]:
    return {"id": block_id, "type": "function", "name": name, "arguments": arguments}


def _set_response_id(attributes: dict[str, Any], message: Any) -> None:
    message_id = getattr(message, "id", None)  # "msg_..."
    if isinstance(message_id, str) and message_id:
        attributes["response_id"] = message_id


def record_message(span: ActiveSpan, message: Any) -> None:
    """Put a final ``Message`` (or ``ParsedMessage``, beta twins) on the span."""
    attributes = span.attributes
    _set_response_id(attributes, message)
    model = getattr(message, "model", None)
    if isinstance(model, str):
        attributes["model"] = model
    counts: dict[str, int] = {}
    _read_usage(getattr(message, "usage", None), counts)
    _set_tokens(attributes, counts, output_known=True)
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in getattr(message, "content", None) or ():
        kind = getattr(block, "type", None)
        if kind == "text":
            texts.append(block.text)
        elif kind == "tool_use":
            tool_calls.append(_tool_call(block.id, block.name, json.dumps(block.input)))
    _set_output(attributes, texts, tool_calls)
    stop_reason = getattr(message, "stop_reason", None)
    if stop_reason is not None:
        attributes["finish_reason"] = stop_reason


class StreamKeeper:
    """What a stream's events leave for its span: ``on_event`` is the stream recorder's ``on_chunk``, ``finalize``
    reads ``events`` into the span at the end (``_summarise``).

    The text of a text delta of the text block being streamed is kept as a plain string, any other event as it
    is: holding every event model of a long stream until it ends makes the garbage collector run and walk them.
    The recorder stamps ``ttft_ms`` on ``message_start``, which precedes any generated token; the first content
    delta restamps it and sets ``started``; from then on peekr's copy of the SDK's stream loop runs ``on_event``'s
    body inline, without the restamp (``anthropic._loop``: keep the two alike). Holds no reference to the recorder
    (which holds ``on_event``): no cycle for the garbage collector.
    """

    __slots__ = ("append", "events", "span", "started", "text_index")

    def __init__(self, span: ActiveSpan) -> None:
        self.span = span
        self.events: list[Any] = []
        self.append = self.events.append
        self.text_index = -1  # index of the text block being streamed (-1: none)
        self.started = False  # a content delta arrived (``ttft_ms`` restamped): the loop copy inlines ``on_event``

    def on_event(self, event: Any) -> None:
        """Keep what the summary needs of ``event``: its text (a text delta of the current text block), else the
        event itself."""
        kind = event.type
        if kind == "content_block_delta":
            if not self.started:
                self.started = True
                self.span.attributes["ttft_ms"] = round(self.span.elapsed_ms(), 3)
            delta = event.delta
            if delta.type == "text_delta" and event.index == self.text_index:
                self.append(delta.text)
                return
        elif kind == "content_block_start":
            self.text_index = event.index if event.content_block.type == "text" else -1
        self.append(event)

    def finalize(self, span: ActiveSpan) -> None:
        """Read the kept events into the span (once, when the stream ends)."""
        _summarise(span, self.events)


def _summarise(span: ActiveSpan, events: list[Any]) -> None:
    """Read the stream's events into the span; a plain string in ``events`` is the text of a text
    delta of the latest ``content_block_start`` (the stream wrapper keeps no event model for those)."""
    if not span.is_recording:  # ended early by an internal failure: its attributes are published
        return
    attributes = span.attributes
    counts: dict[str, int] = {}
    output_known = False
    generated = False
    stop_reason = None
    # index -> [type, id, name, pieces]; blocks arrive in index order.
    blocks: dict[int, list[Any]] = {}
    text: list[Any] = []  # the pieces of the latest text block (a text delta of it is kept as a string)
    for event in events:
        if type(event) is str:
            generated = True
            text.append(event)
            continue
        kind = event.type
        if kind == "content_block_delta":
            generated = True
            delta = event.delta
            block = blocks.get(event.index)
            if block is None:
                continue
            if delta.type == "text_delta":
                block[3].append(delta.text)
            elif delta.type == "input_json_delta":
                block[3].append(delta.partial_json)
        elif kind == "content_block_start":
            content = event.content_block
            block = [content.type, getattr(content, "id", None), getattr(content, "name", None), []]
            if content.type == "text" and content.text:
                block[3].append(content.text)
            elif content.type == "tool_use":
                block.append(content.input)
            blocks[event.index] = block
            if content.type == "text":
                text = block[3]
        elif kind == "message_start":
            message = event.message
            _set_response_id(attributes, message)
            if isinstance(message.model, str) and message.model:
                attributes["model"] = message.model
            _read_usage(message.usage, counts)
            counts.pop("output_tokens", None)  # a placeholder until message_delta reports the total
        elif kind == "message_delta":
            output_known = True
            _read_usage(getattr(event, "usage", None), counts)
            stop_reason = getattr(event.delta, "stop_reason", None)
    if not generated:  # no token arrived, so there is no time to first token
        attributes.pop("ttft_ms", None)
    _set_tokens(attributes, counts, output_known)
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in blocks.values():
        if block[0] == "text":
            texts.extend(block[3])
        elif block[0] == "tool_use":
            arguments = "".join(block[3]) if block[3] else json.dumps(block[4] if len(block) > 4 else {})
            tool_calls.append(_tool_call(block[1], block[2], arguments))
    _set_output(attributes, texts, tool_calls)
    if stop_reason is not None:
        attributes["finish_reason"] = stop_reason
