"""OpenAI Chat Completions: ``POST /v1/chat/completions``, JSON and SSE, tool calls, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._behaviour import Behaviour, Prompt, Reply, Usage, default_reply, pieces, text_of, usage_for
from ._settings import Call, to_reply
from ._wire import FakeResponse, fake_id, json_response, paced, sse_data

__all__ = ["CREATED", "chat_completions", "openai_error", "openai_usage"]

CREATED = 1_700_000_000
"""Fixed `created` timestamp, so whole responses can be compared."""

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def openai_error(status: int, message: str | None = None) -> FakeResponse:
    """An error in OpenAI's JSON shape; 429 carries ``Retry-After: 1``."""
    kind, code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    body = {"error": {"message": message or f"fake error {status}", "type": kind, "param": None, "code": code}}
    return json_response(status, body, [("retry-after", "1")] if status == 429 else [])


def openai_usage(usage: Usage) -> dict[str, Any]:
    """Chat Completions usage; cached tokens are part of ``prompt_tokens``."""
    return {
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.total,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def chat_prompt(body: dict[str, Any]) -> Prompt:
    """Texts of all messages; the last user or tool message is what the echo answers."""
    messages = body.get("messages") or []
    texts = [t for m in messages for t in text_of(m.get("content"))]
    last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") in ("user", "tool")), {})
    tools = [
        (t["function"]["name"], t["function"].get("parameters") or {})
        for t in body.get("tools") or ()
        if t.get("type") == "function"
    ]
    after_tool = bool(messages) and messages[-1].get("role") == "tool"
    return Prompt(texts, " ".join(text_of(last.get("content"))), tools, after_tool)


def chat_completions(call: Call) -> FakeResponse:
    """Answer a chat completion request (non-streaming or SSE)."""
    request, model, behaviour = call.request, call.model, call.behaviour
    body: dict[str, Any] = request.json or {}
    prompt = chat_prompt(body)
    if call.settings.chat_responder is not None:
        reply = to_reply(call.settings.chat_responder(body))
    else:
        reply = default_reply(prompt, behaviour)
    counts = usage_for(prompt, reply, behaviour)
    usage = openai_usage(counts) if counts else None
    base = {"id": f"chatcmpl-{fake_id(request)}", "created": CREATED, "model": model}
    if not body.get("stream"):
        choice = {"index": 0, "message": _message(reply), "finish_reason": _finish(reply), "logprobs": None}
        return json_response(200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage})
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    events = _stream(base, reply, behaviour, usage if include_usage else None, include_usage)
    return FakeResponse(200, [("content-type", "text/event-stream")], paced(events, behaviour.chunk_pause), True)


def _message(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": f"call_fake_{i}", "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
            for i, c in enumerate(reply.tool_calls)
        ]
    return message


def _finish(reply: Reply) -> str:
    return "tool_calls" if reply.tool_calls else "stop"


def _stream(
    base: dict[str, Any], reply: Reply, behaviour: Behaviour, usage: dict[str, Any] | None, include_usage: bool
) -> Iterator[bytes]:
    """role chunk, one chunk per word / argument fragment, finish chunk, usage chunk (if asked), [DONE]."""
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return sse_data({**base, "object": "chat.completion.chunk", "choices": [choice], **extra})

    deltas: list[dict[str, Any]] = [{"content": p} for p in pieces(reply.text)]
    for i, call in enumerate(reply.tool_calls):
        head = {
            "index": i,
            "id": f"call_fake_{i}",
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        deltas.append({"tool_calls": [head]})
        deltas += [{"tool_calls": [{"index": i, "function": {"arguments": p}}]} for p in pieces(call.arguments_json)]
    yield chunk({"role": "assistant", "content": ""})
    if behaviour.midstream_error:
        yield from (chunk(d) for d in deltas[:2])
        yield sse_data({"error": {"message": "fake midstream error", "type": "server_error", "code": None}})
        return
    yield from (chunk(d) for d in deltas)
    yield chunk({}, _finish(reply))
    if usage is not None:
        yield sse_data({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    yield b"data: [DONE]\n\n"
