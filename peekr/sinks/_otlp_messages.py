"""Captured content -> the GenAI conventions' message shapes (``gen_ai.input.messages`` & co).

Peekr records each provider's own request shape in ``attributes.input`` (OpenAI messages or
Responses items, Anthropic/Bedrock ``{"system", "messages"}``, Gemini ``{"system", "contents"}``)
and the reply as ``output`` text plus ``tool_calls``. The conventions want one shape for all
(semantic-conventions-genai ``gen-ai-input-messages.json``, ``gen-ai-output-messages.json``,
``gen-ai-system-instructions.json``): messages of ``{"role", "parts"}`` whose parts are ``text``,
``tool_call``, ``tool_call_response``, ``reasoning``, ``uri`` or a generic ``{"type": ...}``.

Everything here is best effort over JSON-safe values that ``capture()`` already bounded: an
unknown block becomes a generic part (its own ``type``, or its only key), never an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["input_messages", "output_messages"]

Part = dict[str, Any]
Message = dict[str, Any]

#: The conventions' ``FinishReason`` values for each provider's own reason (lower-cased).
_FINISH = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "completed": "stop",
    "length": "length",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "incomplete": "length",
    "tool_calls": "tool_call",
    "tool_use": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
    "content_filtered": "content_filter",
    "safety": "content_filter",
    "recitation": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "guardrail_intervened": "content_filter",
    "refusal": "content_filter",
    "failed": "error",
}
_TEXT_TYPES = frozenset(("text", "input_text", "output_text"))
#: Part types the conventions define (with required fields): never passed through as generic parts.
_RESERVED = frozenset(
    ("text", "tool_call", "tool_call_response", "server_tool_call", "server_tool_call_response", "reasoning", "blob")
) | {"file", "uri"}
_ROLES = {"model": "assistant", "function": "tool", "human": "user", "ai": "assistant"}


def _arguments(value: Any) -> Any:
    """Tool arguments as an object when they are a JSON string (OpenAI sends them as text)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text_of(value: Any) -> Any:
    """A tool result's content: joined text when it is a list of text blocks, else the value."""
    if isinstance(value, list) and value and all(isinstance(v, Mapping) and "text" in v for v in value):
        return "".join(str(v["text"]) for v in value)
    return value


def _generic(block: Mapping[str, Any]) -> Part:
    """A part for a block with no mapping: the block itself under its own ``type`` (or its only key)."""
    kind = block.get("type")
    if isinstance(kind, str):
        # A type the conventions define has required fields this block may not have.
        return {"type": "unknown", "content": dict(block)} if kind in _RESERVED else dict(block)
    if len(block) == 1:
        key, value = next(iter(block.items()))
        return {"type": str(key), str(key): value}
    return {"type": "unknown", "content": dict(block)}


def _part(block: Any) -> Part | None:
    """One content block of any provider -> one part (None for an empty text)."""
    if block is None:
        return None
    if not isinstance(block, Mapping):
        plain = block if isinstance(block, str) else json.dumps(block, default=str)
        return {"type": "text", "content": plain} if plain else None
    kind = block.get("type")
    if kind in _TEXT_TYPES or (kind is None and isinstance(block.get("text"), str)):
        if block.get("thought") is True:  # Gemini thought summaries
            return {"type": "reasoning", "content": str(block.get("text", ""))}
        text = block.get("text", block.get("content"))
        return {"type": "text", "content": str(text)} if text else None
    if kind == "tool_use":  # Anthropic
        return {"type": "tool_call", "id": block.get("id"), "name": block.get("name"), "arguments": block.get("input")}
    if kind == "tool_result":
        return {
            "type": "tool_call_response",
            "id": block.get("tool_use_id"),
            "response": _text_of(block.get("content")),
        }
    if kind in ("thinking", "reasoning"):
        summary = block.get("summary")  # OpenAI Responses reasoning items
        if isinstance(summary, list):
            summary = "".join(str(s.get("text", "")) for s in summary if isinstance(s, Mapping))
        text = block.get("thinking") or block.get("text") or block.get("content") or summary
        return {"type": "reasoning", "content": str(text or "")}
    if kind == "image_url":  # OpenAI chat
        url = block.get("image_url")
        url = url.get("url") if isinstance(url, Mapping) else url
        if isinstance(url, str) and url.startswith(("http://", "https://", "gs://")):
            return {"type": "uri", "modality": "image", "mime_type": None, "uri": url}
        return _generic(block)
    if kind is None:
        if isinstance(block.get("toolUse"), Mapping):  # Bedrock Converse
            use = block["toolUse"]
            return {
                "type": "tool_call",
                "id": use.get("toolUseId"),
                "name": use.get("name"),
                "arguments": use.get("input"),
            }
        if isinstance(block.get("toolResult"), Mapping):
            result = block["toolResult"]
            return {
                "type": "tool_call_response",
                "id": result.get("toolUseId"),
                "response": _text_of(result.get("content")),
            }
        if isinstance(block.get("reasoningContent"), Mapping):
            reasoning = block["reasoningContent"].get("reasoningText")
            reasoning = reasoning.get("text") if isinstance(reasoning, Mapping) else reasoning
            return {"type": "reasoning", "content": str(reasoning or "")}
        for key in ("function_call", "functionCall"):  # Gemini
            if isinstance(block.get(key), Mapping):
                call = block[key]
                return {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": call.get("name"),
                    "arguments": call.get("args"),
                }
        for key in ("function_response", "functionResponse"):
            if isinstance(block.get(key), Mapping):
                answer = block[key]
                return {"type": "tool_call_response", "id": answer.get("id"), "response": answer.get("response")}
    return _generic(block)


def _parts(content: Any) -> list[Part]:
    if content is None:
        return []
    blocks = content if isinstance(content, list) else [content]
    return [part for part in map(_part, blocks) if part is not None]


def _message(item: Any) -> Message | None:
    """One chat-history entry of any provider -> one message."""
    if not isinstance(item, Mapping):
        plain = _parts(item)
        return {"role": "user", "parts": plain} if plain else None
    kind = item.get("type")
    if kind == "function_call":  # Responses API items
        request: Part = {"type": "tool_call", "id": item.get("call_id"), "name": item.get("name")}
        return {"role": "assistant", "parts": [{**request, "arguments": _arguments(item.get("arguments"))}]}
    if kind == "function_call_output":
        return {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": item.get("call_id"), "response": item.get("output")}],
        }
    if isinstance(kind, str) and kind != "message" and "role" not in item:  # other items (reasoning, ...)
        part = _part(item)
        return {"role": "assistant", "parts": [part]} if part is not None else None
    role = str(item.get("role") or "user")
    role = _ROLES.get(role, role)
    parts: list[Part] = _parts(item["parts"] if "parts" in item and "content" not in item else item.get("content"))
    if role == "tool" and "tool_call_id" in item:  # OpenAI chat tool result
        parts = [
            {"type": "tool_call_response", "id": item.get("tool_call_id"), "response": _text_of(item.get("content"))}
        ]
    for call in item.get("tool_calls") or ():  # OpenAI chat assistant turn
        if isinstance(call, Mapping):
            function: Mapping[str, Any] = call["function"] if isinstance(call.get("function"), Mapping) else call
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": _arguments(function.get("arguments")),
                }
            )
    if role == "user" and parts and all(p["type"] == "tool_call_response" for p in parts):
        role = "tool"  # Anthropic, Bedrock and Gemini send tool results as a user turn
    message: Message = {"role": role, "parts": parts}
    if isinstance(item.get("name"), str):
        message["name"] = item["name"]
    return message


def _history(value: Any) -> list[Message]:
    items = value if isinstance(value, list) else [value]
    return [message for message in map(_message, items) if message is not None]


def _system(value: Any) -> list[Part]:
    if isinstance(value, Mapping) and "parts" in value:  # a Gemini Content
        return _parts(value["parts"])
    return _parts(value)


def input_messages(input_value: Any) -> tuple[list[Message] | None, list[Part] | None]:
    """``attributes.input`` -> ``(gen_ai.input.messages, gen_ai.system_instructions)`` (None when absent)."""
    if input_value is None:
        return None, None
    system: Any = None
    history: Any = input_value
    if isinstance(input_value, Mapping):
        if "messages" in input_value or "contents" in input_value or "system" in input_value:
            system = input_value.get("system")
            for key in ("messages", "contents", "input"):
                if key in input_value:
                    history = input_value[key]
                    break
            else:
                history = None
        elif isinstance(input_value.get("prompt"), str):  # Bedrock invoke_model text bodies
            history = input_value["prompt"]
        elif isinstance(input_value.get("inputText"), str):
            history = input_value["inputText"]
    messages = _history(history) if history is not None else []
    instructions = _system(system) if system is not None else []
    return messages or None, instructions or None


def finish_reason(reason: Any, failed: bool) -> str:
    """The conventions' finish reason for a provider's own (``error`` for a failed call without one)."""
    if reason is None:
        return "error" if failed else "stop"
    text = str(reason)
    return _FINISH.get(text.lower(), text)


def output_messages(output: Any, tool_calls: Any, reason: Any, failed: bool) -> list[Message] | None:
    """``attributes.output`` (+ ``tool_calls``, ``finish_reason``) -> ``gen_ai.output.messages``."""
    texts = output if isinstance(output, list) else [output]
    if isinstance(output, Mapping):  # e.g. embeddings: {"count", "dimensions"} is not a message
        texts = []
    finish = finish_reason(reason, failed)
    messages: list[Message] = [
        {"role": "assistant", "parts": _parts(text), "finish_reason": finish} for text in texts if text is not None
    ]
    calls = [
        {"type": "tool_call", "id": c.get("id"), "name": c.get("name"), "arguments": _arguments(c.get("arguments"))}
        for c in (tool_calls if isinstance(tool_calls, list) else ())
        if isinstance(c, Mapping)
    ]
    if calls:
        if not messages:
            messages.append({"role": "assistant", "parts": [], "finish_reason": finish})
        messages[0]["parts"].extend(calls)
    return messages or None
