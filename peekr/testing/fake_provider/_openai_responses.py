"""OpenAI Responses API: ``POST /v1/responses``, JSON and the full SSE event sequence, function calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._behaviour import Behaviour, Prompt, Reply, Usage, default_reply, pieces, text_of, usage_for
from ._openai_chat import CREATED
from ._settings import Call
from ._wire import FakeResponse, fake_id, json_response, paced, sse_event

__all__ = ["responses"]


def responses_prompt(body: dict[str, Any]) -> Prompt:
    """Instructions plus every input item's text; the last user message or function output is echoed."""
    items = body.get("input") or []
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    texts = [*text_of(body.get("instructions") or ""), *(t for item in items for t in text_of(item))]
    last: dict[str, Any] = next((i for i in reversed(items) if i.get("role") == "user" or "output" in i), {})
    tools = [(t["name"], t.get("parameters") or {}) for t in body.get("tools") or () if t.get("type") == "function"]
    after_tool = bool(items) and items[-1].get("type") == "function_call_output"
    return Prompt(texts, " ".join(text_of(last)), tools, after_tool)


def responses(call: Call) -> FakeResponse:
    """Answer a Responses API request (non-streaming or SSE)."""
    request, behaviour = call.request, call.behaviour
    body: dict[str, Any] = request.json or {}
    prompt = responses_prompt(body)
    reply = default_reply(prompt, behaviour)
    rid = fake_id(request)
    items = _items(rid, reply)
    counts = usage_for(prompt, reply, behaviour)
    usage = _usage(counts) if counts else None
    response = _response(rid, body, "completed", items, usage)
    if not body.get("stream"):
        return json_response(200, response)
    events = _events(rid, body, items, response, behaviour)
    numbered = (sse_event(e["type"], {**e, "sequence_number": n}) for n, e in enumerate(events))
    return FakeResponse(200, [("content-type", "text/event-stream")], paced(numbered, behaviour.chunk_pause), True)


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input,
        "input_tokens_details": {"cached_tokens": usage.cache_read},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total,
    }


def _items(rid: str, reply: Reply) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.text:
        part = {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}
        items.append(
            {"type": "message", "id": f"msg_{rid}", "status": "completed", "role": "assistant", "content": [part]}
        )
    for i, call in enumerate(reply.tool_calls):
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{rid}_{i}",
                "call_id": f"call_fake_{i}",
                "name": call.name,
                "arguments": call.arguments_json,
                "status": "completed",
            }
        )
    return items


def _response(
    rid: str, body: dict[str, Any], status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": f"resp_{rid}",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": body.get("model", ""),
        "instructions": body.get("instructions"),
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "error": None,
        "incomplete_details": None,
        "metadata": {},
        "usage": usage,
    }


def _events(
    rid: str, body: dict[str, Any], items: list[dict[str, Any]], final: dict[str, Any], behaviour: Behaviour
) -> Iterator[dict[str, Any]]:
    """created, in_progress, per item added/deltas/done, completed; or an error after 2 deltas."""
    start = _response(rid, body, "in_progress", [], None)
    yield {"type": "response.created", "response": start}
    yield {"type": "response.in_progress", "response": start}
    deltas = 0
    for index, item in enumerate(items):
        where = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            text = item["content"][0]["text"]
            yield {"type": "response.output_item.added", "output_index": index, "item": {**item, "content": []}}
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield {"type": "response.content_part.added", **where, "content_index": 0, "part": empty}
            for piece in pieces(text):
                if behaviour.midstream_error and deltas == 2:
                    yield from _failure(rid, body)
                    return
                deltas += 1
                yield {
                    "type": "response.output_text.delta",
                    **where,
                    "content_index": 0,
                    "delta": piece,
                    "logprobs": [],
                }
            yield {"type": "response.output_text.done", **where, "content_index": 0, "text": text, "logprobs": []}
            yield {"type": "response.content_part.done", **where, "content_index": 0, "part": item["content"][0]}
        else:
            added = {**item, "arguments": "", "status": "in_progress"}
            yield {"type": "response.output_item.added", "output_index": index, "item": added}
            for piece in pieces(item["arguments"]):
                if behaviour.midstream_error and deltas == 2:
                    yield from _failure(rid, body)
                    return
                deltas += 1
                yield {"type": "response.function_call_arguments.delta", **where, "delta": piece}
            yield {"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]}
        yield {"type": "response.output_item.done", "output_index": index, "item": item}
    if behaviour.midstream_error:
        yield from _failure(rid, body)
        return
    yield {"type": "response.completed", "response": final}


def _failure(rid: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    message = "fake midstream error"
    yield {"type": "error", "code": "server_error", "message": message, "param": None}
    failed = _response(rid, body, "failed", [], None)
    yield {"type": "response.failed", "response": {**failed, "error": {"code": "server_error", "message": message}}}
