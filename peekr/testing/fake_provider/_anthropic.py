"""Anthropic Messages: ``POST /v1/messages``, JSON and SSE (with ``event:`` lines), tool use, errors.

The message and stream-event builders are shared with Bedrock's ``invoke`` operations, whose bodies
are Claude messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._behaviour import Behaviour, Prompt, Reply, Usage, default_reply, pieces, text_of, usage_for
from ._settings import Call
from ._wire import FakeResponse, fake_id, json_response, paced, sse_event

__all__ = [
    "anthropic_error",
    "anthropic_message",
    "anthropic_prompt",
    "anthropic_stream_events",
    "anthropic_usage",
    "messages",
]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


_MIDSTREAM_ERROR = {"type": "error", "error": {"type": "overloaded_error", "message": "fake midstream error"}}


def anthropic_error(status: int, message: str | None = None) -> FakeResponse:
    """An error in Anthropic's JSON shape; 429 carries ``Retry-After: 1``."""
    kind = _ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message or f"fake error {status}"}}
    return json_response(status, body, [("retry-after", "1")] if status == 429 else [])


def anthropic_prompt(body: dict[str, Any]) -> Prompt:
    """System prompt plus all message texts (tool results included); the last user message is echoed."""
    messages = body.get("messages") or []
    texts = [*text_of(body.get("system") or ""), *(t for m in messages for t in text_of(m.get("content")))]
    last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = last.get("content")
    after_tool = isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )
    tools = [(t["name"], t.get("input_schema") or {}) for t in body.get("tools") or () if "name" in t]
    return Prompt(texts, " ".join(text_of(content)), tools, after_tool)


def anthropic_usage(usage: Usage) -> dict[str, Any]:
    """Claude usage: ``input_tokens`` excludes cache reads and writes, which have their own fields."""
    return {
        "input_tokens": usage.uncached_input,
        "output_tokens": usage.output,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
    }


def anthropic_message(mid: str, model: str, reply: Reply, usage: dict[str, Any] | None) -> dict[str, Any]:
    """A complete Claude message."""
    return {
        "id": f"msg_{mid}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _blocks(reply),
        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def anthropic_stream_events(
    mid: str, model: str, reply: Reply, usage: dict[str, Any] | None, behaviour: Behaviour
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs of a Claude stream; with `midstream_error`, an error after 2 deltas."""
    start_usage = {**usage, "output_tokens": 1} if usage else None
    start = {**anthropic_message(mid, model, reply, start_usage), "content": [], "stop_reason": None}
    yield "message_start", {"type": "message_start", "message": start}
    deltas = 0
    for index, (first, fragments) in enumerate(_stream_blocks(reply)):
        yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": first}
        if index == 0:
            yield "ping", {"type": "ping"}
        for fragment in fragments:
            if behaviour.midstream_error and deltas == 2:
                yield "error", _MIDSTREAM_ERROR
                return
            deltas += 1
            yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": fragment}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    if behaviour.midstream_error:
        yield "error", _MIDSTREAM_ERROR
        return
    stop = {"stop_reason": "tool_use" if reply.tool_calls else "end_turn", "stop_sequence": None}
    # message_delta usage is cumulative (real output total); `nousage` omits it, which the SDK's
    # messages.stream() accumulator cannot handle - use raw `create(stream=True)` for that case.
    yield "message_delta", {"type": "message_delta", "delta": stop, **({"usage": usage} if usage else {})}
    yield "message_stop", {"type": "message_stop"}


def messages(call: Call) -> FakeResponse:
    """Answer a Messages API request (non-streaming or SSE)."""
    request, model, behaviour = call.request, call.model, call.behaviour
    body: dict[str, Any] = request.json or {}
    prompt = anthropic_prompt(body)
    reply = default_reply(prompt, behaviour)
    counts = usage_for(prompt, reply, behaviour)
    usage = anthropic_usage(counts) if counts else None
    mid = fake_id(request)
    if not body.get("stream"):
        return json_response(200, anthropic_message(mid, model, reply, usage))
    events = (sse_event(name, data) for name, data in anthropic_stream_events(mid, model, reply, usage, behaviour))
    return FakeResponse(200, [("content-type", "text/event-stream")], paced(events, behaviour.chunk_pause), True)


def _stream_blocks(reply: Reply) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each content block as it starts, with its deltas."""
    if reply.text:
        yield {"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in pieces(reply.text)]
    for i, call in enumerate(reply.tool_calls):
        start = {"type": "tool_use", "id": f"toolu_fake_{i}", "name": call.name, "input": {}}
        yield start, [{"type": "input_json_delta", "partial_json": p} for p in pieces(call.arguments_json)]


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
    blocks += [
        {"type": "tool_use", "id": f"toolu_fake_{i}", "name": c.name, "input": c.arguments}
        for i, c in enumerate(reply.tool_calls)
    ]
    return blocks
