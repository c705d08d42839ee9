"""Bedrock runtime: ``/model/{modelId}/converse``, ``/converse-stream``, ``/invoke``,
``/invoke-with-response-stream``; ``x-amzn-ErrorType`` errors and in-stream exception frames.

``invoke`` bodies are read and answered as Claude messages (``anthropic_version: bedrock-2023-05-31``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from ._anthropic import anthropic_message, anthropic_prompt, anthropic_stream_events, anthropic_usage
from ._behaviour import Behaviour, Prompt, Reply, Usage, default_reply, pieces, text_of, usage_for
from ._eventstream import CONTENT_TYPE, event_frame, exception_frame
from ._settings import Call
from ._wire import FakeResponse, fake_id, json_response, paced

__all__ = ["bedrock_error", "converse", "converse_stream", "invoke", "invoke_with_response_stream"]

LATENCY_MS = 12
"""The `latencyMs` / `invocationLatency` the fake reports."""

_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_STREAM_ERROR = "modelStreamErrorException"


def bedrock_error(status: int, message: str | None = None) -> FakeResponse:
    """An AWS JSON error; botocore maps ``x-amzn-ErrorType`` to e.g. ``client.exceptions.ValidationException``."""
    kind = _ERROR_TYPES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    headers = [("x-amzn-errortype", f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/")]
    if status == 429:
        headers.append(("retry-after", "1"))
    return json_response(status, {"message": message or f"fake error {status}"}, headers)


def converse_prompt(body: dict[str, Any]) -> Prompt:
    """System blocks plus all message texts (tool results included); the last user message is echoed."""
    messages = body.get("messages") or []
    texts = [*text_of(body.get("system") or []), *(t for m in messages for t in text_of(m.get("content")))]
    last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    after_tool = any("toolResult" in block for block in last.get("content") or ())
    tools = [
        (t["toolSpec"]["name"], (t["toolSpec"].get("inputSchema") or {}).get("json") or {})
        for t in (body.get("toolConfig") or {}).get("tools") or ()
        if "toolSpec" in t
    ]
    return Prompt(texts, " ".join(text_of(last.get("content"))), tools, after_tool)


def converse(call: Call) -> FakeResponse:
    """Answer ``Converse``."""
    request, behaviour = call.request, call.behaviour
    prompt = converse_prompt(request.json or {})
    reply = default_reply(prompt, behaviour)
    content: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
    content += [
        {"toolUse": {"toolUseId": f"tooluse_fake_{i}", "name": c.name, "input": c.arguments}}
        for i, c in enumerate(reply.tool_calls)
    ]
    body: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": _stop_reason(reply),
        "metrics": {"latencyMs": LATENCY_MS},
    }
    counts = usage_for(prompt, reply, behaviour)
    if counts:
        body["usage"] = _usage(counts)
    return json_response(200, body)


def converse_stream(call: Call) -> FakeResponse:
    """Answer ``ConverseStream`` with event-stream frames."""
    request, behaviour = call.request, call.behaviour
    prompt = converse_prompt(request.json or {})
    reply = default_reply(prompt, behaviour)
    frames = paced(_converse_frames(prompt, reply, behaviour), behaviour.chunk_pause)
    return FakeResponse(200, [("content-type", CONTENT_TYPE)], frames, True)


def invoke(call: Call) -> FakeResponse:
    """Answer ``InvokeModel`` with a Claude message and the token-count headers."""
    request, model, behaviour = call.request, call.model, call.behaviour
    prompt = anthropic_prompt(request.json or {})
    reply = default_reply(prompt, behaviour)
    counts = usage_for(prompt, reply, behaviour)
    headers = [("x-amzn-bedrock-invocation-latency", str(LATENCY_MS))]
    if counts:
        headers += [
            ("x-amzn-bedrock-input-token-count", str(counts.uncached_input)),
            ("x-amzn-bedrock-output-token-count", str(counts.output)),
        ]
        if counts.cache_read or counts.cache_write:
            headers += [
                ("x-amzn-bedrock-cache-read-input-token-count", str(counts.cache_read)),
                ("x-amzn-bedrock-cache-write-input-token-count", str(counts.cache_write)),
            ]
    usage = anthropic_usage(counts) if counts else None
    return json_response(200, anthropic_message(fake_id(request), model, reply, usage), headers)


def invoke_with_response_stream(call: Call) -> FakeResponse:
    """Answer ``InvokeModelWithResponseStream``: Claude stream events as base64 ``chunk`` frames."""
    request, model, behaviour = call.request, call.model, call.behaviour
    prompt = anthropic_prompt(request.json or {})
    reply = default_reply(prompt, behaviour)
    counts = usage_for(prompt, reply, behaviour)
    usage = anthropic_usage(counts) if counts else None
    events = anthropic_stream_events(fake_id(request), model, reply, usage, behaviour)
    frames = paced(_invoke_frames(events, counts), behaviour.chunk_pause)
    return FakeResponse(200, [("content-type", CONTENT_TYPE)], frames, True)


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if reply.tool_calls else "end_turn"


def _usage(usage: Usage) -> dict[str, int]:
    """Converse usage: ``inputTokens`` excludes cache reads/writes; ``totalTokens`` includes them."""
    result = {"inputTokens": usage.uncached_input, "outputTokens": usage.output, "totalTokens": usage.total}
    if usage.cache_read or usage.cache_write:
        result |= {"cacheReadInputTokens": usage.cache_read, "cacheWriteInputTokens": usage.cache_write}
    return result


def _converse_frames(prompt: Prompt, reply: Reply, behaviour: Behaviour) -> Iterator[bytes]:
    """messageStart, blocks (start/deltas/stop), messageStop, metadata; or an exception after 2 deltas."""
    yield event_frame("messageStart", {"role": "assistant"})
    blocks: list[tuple[dict[str, Any] | None, list[dict[str, Any]]]] = []
    if reply.text:
        blocks.append((None, [{"text": p} for p in pieces(reply.text)]))
    for i, call in enumerate(reply.tool_calls):
        tool_start = {"toolUse": {"toolUseId": f"tooluse_fake_{i}", "name": call.name}}
        blocks.append((tool_start, [{"toolUse": {"input": p}} for p in pieces(call.arguments_json)]))
    deltas = 0
    for index, (start, fragments) in enumerate(blocks):
        if start:
            yield event_frame("contentBlockStart", {"contentBlockIndex": index, "start": start})
        for fragment in fragments:
            if behaviour.midstream_error and deltas == 2:
                yield exception_frame(_STREAM_ERROR, "fake midstream error")
                return
            deltas += 1
            yield event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": fragment})
        yield event_frame("contentBlockStop", {"contentBlockIndex": index})
    if behaviour.midstream_error:
        yield exception_frame(_STREAM_ERROR, "fake midstream error")
        return
    yield event_frame("messageStop", {"stopReason": _stop_reason(reply)})
    metadata: dict[str, Any] = {"metrics": {"latencyMs": LATENCY_MS}}
    counts = usage_for(prompt, reply, behaviour)
    if counts:
        metadata["usage"] = _usage(counts)
    yield event_frame("metadata", metadata)


def _invoke_frames(events: Iterator[tuple[str, dict[str, Any]]], usage: Usage | None) -> Iterator[bytes]:
    """Wrap Claude events in ``chunk`` frames; the message_stop chunk carries the invocation metrics."""
    for name, data in events:
        if name == "ping":
            continue
        if name == "error":
            yield exception_frame(_STREAM_ERROR, data["error"]["message"])
            return
        if name == "message_stop" and usage:
            data = data | {
                "amazon-bedrock-invocationMetrics": {
                    "inputTokenCount": usage.uncached_input,
                    "outputTokenCount": usage.output,
                    "invocationLatency": LATENCY_MS,
                    "firstByteLatency": LATENCY_MS // 2,
                },
            }
        yield event_frame("chunk", {"bytes": base64.b64encode(json.dumps(data).encode()).decode()})
