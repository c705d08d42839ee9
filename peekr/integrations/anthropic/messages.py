"""Anthropic Messages spans -> the common message shape (``peekr.integrations._messages``).

Captured shapes: ``input`` is ``{"system": ..., "messages": [...]}`` or the messages list, with
content blocks ``text`` / ``tool_use`` / ``tool_result`` (``thinking`` blocks are left out);
``output`` is the content blocks, a message dict or the text, the calls also in ``tool_calls``;
``request.system`` and ``request.tools`` (``name``, ``description``, ``input_schema``).
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

SHAPE = Shape(system=("system",), not_reply=("tool_use", "thinking"))


def input_messages(value: Any, request: Mapping[str, Any]) -> list[Message]:
    """The system prompt and the messages sent."""
    return system_and_messages(value, request, block)


def output_messages(value: Any, tool_calls: Any) -> list[Message]:
    """The assistant's reply."""
    return assistant_from(value, block, tool_calls)


def tools(request: Mapping[str, Any]) -> list[Tool] | None:
    """The client tools of ``request.tools`` (server tools have no ``input_schema``)."""
    sent = request.get("tools")
    if not isinstance(sent, list):
        return None
    out = [
        function(t.get("name"), t.get("description"), t.get("input_schema"))
        for t in sent
        if isinstance(t, dict) and t.get("name") and "input_schema" in t
    ]
    return out or None


def part(value: Any) -> Part | None:
    """A ``tool_use`` block (``input``) or a ``tool_result`` block (``content``) as a :class:`Part`."""
    if isinstance(value, dict) and value.get("type") == "tool_use":
        return Part("call", value.get("name"), json_text(value.get("input", value.get("args"))))
    if isinstance(value, dict) and value.get("type") == "tool_result":
        return Part("result", None, value.get("content", value.get("response")))
    return None


def block(value: Any) -> tuple[BlockKind, Any]:
    """One content block -> (kind, payload)."""
    if isinstance(value, str):
        return "text", value
    if not isinstance(value, dict):
        raise Unconvertible("Anthropic content block is not an object")
    kind = value.get("type")
    if kind == "text":
        return "text", str(value.get("text", ""))
    if kind in ("tool_use", "server_tool_use"):
        return "call", call(value.get("id"), value.get("name"), value.get("input"))
    if kind == "tool_result":
        return "result", {
            "role": "tool",
            "tool_call_id": str(value.get("tool_use_id", "")),
            "content": text(value.get("content")),
        }
    if kind in ("thinking", "redacted_thinking"):
        return "skip", None
    raise Unconvertible(f"Anthropic content block {kind!r} cannot be converted")
