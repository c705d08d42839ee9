"""OpenAI Responses API: ``create`` (incl. ``stream=True``), ``parse`` and the ``.stream()`` helper.

``.stream()`` is not patched: it calls ``create(stream=True)``, so one helper call is one span. A
``.stream(response_id=...)`` resume goes through ``retrieve`` and is not recorded.

The system prompt travels separately (``instructions``), so ``input`` is
``{"system": instructions, "input": input}`` when instructions are given, else the input itself.
Streamed responses carry their usage in the final ``response.completed`` (``.incomplete``,
``.failed``) event, so no request change is needed. A ``type == "error"`` event or a failed final
response does not raise in the SDK; the span records it as ``status="error"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._tracer import ActiveSpan
from .._streams import StreamRecorder
from ._common import (
    SDK,
    provider_of,
    record_usage,
    request_attribute,
    set_captured,
    set_first_content,
    set_response_id,
)

__all__ = ["NAME", "describe_responses", "finalize_responses_stream", "make_responses_on_chunk", "record_response"]

NAME = "openai.responses"

_REQUEST_KEYS = frozenset(
    (
        "temperature",
        "top_p",
        "max_output_tokens",
        "max_tool_calls",
        "tool_choice",
        "parallel_tool_calls",
        "truncation",
        "service_tier",
        "top_logprobs",
        "background",
        "stream",
    )
)
_TEXT_DELTA = "response.output_text.delta"
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def describe_responses(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Span name and the attributes known before the call."""
    model = kwargs.get("model")
    attributes: dict[str, Any] = {"provider": provider_of(instance)}
    if isinstance(model, str):
        attributes["model"] = model
    if kwargs.get("stream") is True:
        attributes["stream"] = True
    instructions = kwargs.get("instructions")
    value = kwargs.get("input")
    if value is not None and isinstance(value, SDK.unset):
        value = None
    if instructions is not None and not isinstance(instructions, SDK.unset):
        set_captured(attributes, "input", {"system": instructions, "input": value})
    elif value is not None:
        set_captured(attributes, "input", value)
    request = request_attribute(kwargs, _REQUEST_KEYS)
    if request:
        set_captured(attributes, "request", request)
    return NAME, attributes


def _usage(attributes: dict[str, Any], usage: Any) -> None:
    record_usage(attributes, usage, "input", "output")


def _item_tool_call(item: Any) -> dict[str, Any] | None:
    kind = getattr(item, "type", None)
    if kind == "function_call":
        return {"id": item.call_id, "type": "function", "name": item.name, "arguments": item.arguments}
    if kind == "custom_tool_call":
        return {"id": item.call_id, "type": "custom", "name": item.name, "arguments": item.input}
    return None


def _mark_failed(span: ActiveSpan, kind: str, message: str) -> None:
    span.status = "error"
    span.attributes["error"] = {"type": kind, "message": message[:2000]}


def record_response(span: ActiveSpan, response: Any) -> None:
    """Fill the span from a ``Response`` (or ``ParsedResponse``)."""
    attributes = span.attributes
    set_response_id(attributes, response)
    model = getattr(response, "model", None)
    if model:
        attributes["model"] = model
    _usage(attributes, getattr(response, "usage", None))
    texts: list[str] = []
    has_message = False
    calls: list[dict[str, Any]] = []
    for item in getattr(response, "output", None) or ():
        if getattr(item, "type", None) == "message":
            has_message = True
            for part in item.content or ():
                kind = getattr(part, "type", None)
                if kind == "output_text":
                    texts.append(part.text)
                elif kind == "refusal":
                    texts.append(part.refusal)
        else:
            call = _item_tool_call(item)
            if call is not None:
                calls.append(call)
    if has_message:
        set_captured(attributes, "output", "".join(texts))
    if calls:
        set_captured(attributes, "tool_calls", calls)
    status = getattr(response, "status", None)
    incomplete = getattr(response, "incomplete_details", None)
    reason = getattr(incomplete, "reason", None) if incomplete is not None else None
    if reason is not None:
        attributes["finish_reason"] = str(reason)
    elif status is not None:
        attributes["finish_reason"] = str(status)
    if status == "failed":
        error = getattr(response, "error", None)
        code = getattr(error, "code", None) or "failed"
        _mark_failed(span, "openai.ResponseFailed", f"{code}: {getattr(error, 'message', None) or ''}")


def make_responses_on_chunk(span: ActiveSpan, events: list[Any], recorder: StreamRecorder) -> Callable[[Any], None]:
    """Per-event callback: keep the event (a text delta as its plain string: holding every event model
    of a long stream until it ends makes the garbage collector run and walk them); until the first
    ``*.delta`` event, also look for it (ttft)."""
    append = events.append

    def keep(event: Any) -> None:
        if event.type == _TEXT_DELTA:
            append(event.delta)
        else:
            append(event)

    def watch_for_content(event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == _TEXT_DELTA:
            append(event.delta)
        else:
            append(event)
        if isinstance(kind, str) and kind.endswith(".delta"):
            if span.is_recording:  # not after close(): an ended span belongs to the bus thread
                set_first_content(span)
            recorder.on_chunk = keep

    return watch_for_content


def finalize_responses_stream(span: ActiveSpan, events: list[Any]) -> None:
    """Use the final response event when the stream got that far; otherwise join the deltas seen
    (``events`` holds the stream's events, text deltas as plain strings)."""
    for event in reversed(events):
        if getattr(event, "type", None) in _FINAL_EVENTS:
            record_response(span, event.response)
            if "output" not in span.attributes and "tool_calls" not in span.attributes:
                _record_partial(span, events, with_model=False)  # response.failed without output: keep the deltas
            break
    else:
        _record_partial(span, events)
    for event in events:  # an "error" event (the SDK does not raise for it); text deltas are kept as str
        if type(event) is not str and getattr(event, "type", None) == "error":
            code = getattr(event, "code", None) or "error"
            _mark_failed(span, "openai.ResponseErrorEvent", f"{code}: {getattr(event, 'message', None) or ''}")
            break


def _record_partial(span: ActiveSpan, events: list[Any], with_model: bool = True) -> None:
    attributes = span.attributes
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for event in events:
        if type(event) is str:  # a response.output_text.delta, kept as its text
            texts.append(event)
            continue
        kind = getattr(event, "type", None)
        if kind == _TEXT_DELTA:
            texts.append(event.delta)
        elif kind == "response.created" and with_model:
            set_response_id(attributes, event.response)
            model = getattr(event.response, "model", None)
            if model:
                attributes["model"] = model
        elif kind == "response.output_item.done":
            call = _item_tool_call(event.item)
            if call is not None:
                calls.append(call)
    if texts:
        set_captured(attributes, "output", "".join(texts))
    if calls:
        set_captured(attributes, "tool_calls", calls)
