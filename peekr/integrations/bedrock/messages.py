"""Bedrock ``converse`` spans -> the common message shape (``peekr.integrations._messages``).

Captured shapes: ``input`` is ``{"system": [...], "messages": [...]}`` or the messages list, with
blocks ``text`` / ``toolUse`` / ``toolResult`` (``reasoningContent`` is left out); ``output`` is
``{"role", "content"}``, the blocks or the text; ``request.toolConfig.tools[].toolSpec``.
``invoke_model`` bodies are model-native and are not converted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._messages import (
    BlockKind,
    Message,
    Part,
    Shape,
    Tool,
    Unconvertible,
    assistant_from,
    call,
    function,
    json_text,
    system_and_messages,
    text,
)

__all__ = ["SHAPE", "block", "input_messages", "output_messages", "part", "tools"]

#: ``{"output": {"message": ...}}`` replies; ``toolResult`` blocks holding ``{"json": ...}`` parts
SHAPE = Shape(system=("system",), results=("toolResult",), data=("json",), replies=("message",))


def input_messages(value: Any, request: Mapping[str, Any]) -> list[Message]:
    """The system prompt and the messages sent."""
    return system_and_messages(value, request, block)


def output_messages(value: Any, tool_calls: Any) -> list[Message]:
    """The assistant's reply."""
    return assistant_from(value, block, tool_calls)


def tools(request: Mapping[str, Any]) -> list[Tool] | None:
    """The ``toolSpec`` entries of ``request.toolConfig``."""
    config = request.get("toolConfig") or {}
    specs = config.get("tools") if isinstance(config, dict) else None
    out = []
    for tool in specs or []:
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if isinstance(spec, dict) and spec.get("name"):
            schema = spec.get("inputSchema") or {}
            out.append(function(spec["name"], spec.get("description"), schema.get("json", schema)))
    return out or None


def part(value: Any) -> Part | None:
    """A ``toolUse`` block (``input``) or a ``toolResult`` block (``content``) as a :class:`Part`."""
    if not isinstance(value, dict):
        return None
    use, result = value.get("toolUse"), value.get("toolResult")
    if isinstance(use, dict):
        return Part("call", use.get("name"), json_text(use.get("input", use.get("args"))))
    if isinstance(result, dict):
        return Part("result", None, result.get("content", result.get("response")))
    return None


def block(value: Any) -> tuple[BlockKind, Any]:
    """One content block -> (kind, payload)."""
    if isinstance(value, str):
        return "text", value
    if not isinstance(value, dict):
        raise Unconvertible("Bedrock content block is not an object")
    if "text" in value:
        return "text", str(value["text"])
    if isinstance(value.get("toolUse"), dict):
        use = value["toolUse"]
        return "call", call(use.get("toolUseId"), use.get("name"), use.get("input"))
    if isinstance(value.get("toolResult"), dict):
        res = value["toolResult"]
        parts = [
            p.get("text") if "text" in p else p.get("json") for p in res.get("content") or [] if isinstance(p, dict)
        ]
        return "result", {"role": "tool", "tool_call_id": str(res.get("toolUseId", "")), "content": text(parts)}
    if "reasoningContent" in value:
        return "skip", None
    raise Unconvertible(f"Bedrock content block {sorted(value)!r} cannot be converted")
