"""OpenAI chat completions spans -> the common message shape (``peekr.integrations._messages``).

Captured shapes: ``input`` is the ``messages`` list as sent (or ``{"messages": [...]}``, or a
prompt string); ``output`` is the assistant message dict, a list of choices/messages, or the text;
``tool_calls`` is already in the common shape; ``request.tools`` holds the tool definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._messages import Message, Part, Shape, Tool, Unconvertible, assistant, text

__all__ = ["SHAPE", "input_messages", "output_messages", "part", "tools"]

#: chat completions are the common shape; a reply sits in ``choices[].message`` (Responses: ``output_text``)
SHAPE = Shape(replies=("choices", "message"), reply_text=("output_text",), not_reply=("function_call", "reasoning"))


def input_messages(value: Any, request: Mapping[str, Any]) -> list[Message]:
    """The ``messages`` sent (``developer`` becomes ``system``)."""
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise Unconvertible("OpenAI input is not a messages list")
    out: list[Message] = []
    for message in value:
        if not isinstance(message, dict) or "role" not in message:
            raise Unconvertible("OpenAI input message without a role")
        role = "system" if message["role"] == "developer" else message["role"]
        if role == "assistant":
            out.append(assistant(text(message.get("content")), message.get("tool_calls")))
        elif role == "tool":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": str(message.get("tool_call_id", "")),
                    "content": text(message.get("content")),
                }
            )
        elif role in ("system", "user"):
            out.append({"role": role, "content": _content(message.get("content"))})
        else:
            raise Unconvertible(f"OpenAI message role {role!r} is not supported")
    return out


def output_messages(value: Any, tool_calls: Any) -> list[Message]:
    """The first choice's message (or the text) with its tool calls."""
    if isinstance(value, list) and value:  # choices or messages: take the first
        value = value[0]
    if isinstance(value, dict) and isinstance(value.get("message"), dict):
        value = value["message"]
    if isinstance(value, dict):
        return [assistant(text(value.get("content")), value.get("tool_calls") or tool_calls)]
    if isinstance(value, str) or value is None:
        return [assistant(value, tool_calls)]
    raise Unconvertible("OpenAI output has an unknown shape")


def tools(request: Mapping[str, Any]) -> list[Tool] | None:
    """The ``function`` tools of ``request.tools``."""
    sent = request.get("tools")
    if not isinstance(sent, list) or not sent:
        return None
    return [t for t in sent if isinstance(t, dict) and t.get("type") == "function"] or None


def part(block: Any) -> Part | None:
    """None: OpenAI content parts are text or media; tool calls travel as common ``tool_calls``."""
    return None


def _content(content: Any) -> Any:
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") != "text" for p in content):
        return content  # images etc. are kept as OpenAI content parts
    if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") not in ("text", None) for p in content):
        return content
    return text(content)
