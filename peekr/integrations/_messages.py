"""The common message shape every provider's ``messages`` module converts to (OpenAI chat format).

A conversation is a list of ``Message`` dicts, the shape the fine-tuning export writes and the
judges and UI read (``docs/internals.md``, "Common message shape"):

* ``{"role": "system" | "user", "content": str}`` (a user ``content`` may instead be a list of
  OpenAI content parts when it holds images etc.);
* ``{"role": "assistant", "content": str | None, "tool_calls": [ToolCall, ...]}`` (``tool_calls``
  only when there are calls; ``content`` None only then);
* ``{"role": "tool", "tool_call_id": str, "content": str}``.

A ``ToolCall`` is ``{"id": str, "type": "function", "function": {"name": str, "arguments": str}}``
(``arguments`` is JSON text); a tool definition is ``{"type": "function", "function": {"name",
"description"?, "parameters"?}}``.

Each ``peekr.integrations.<provider>.messages`` module implements :class:`MessageConverter`;
anything it cannot express raises :class:`Unconvertible`. The helpers below are the pieces the
providers share (block-by-block turns, the system + messages layout, the assistant message).

The same module also tells the text renderers (``peekr view``/``replay --io``, the judges' text) how
its captures differ from the common shape, without converting them: its :class:`Shape` (the key
names) and ``part`` (a tool call or a tool result in one of its content blocks, as a :class:`Part`).
``peekr.integrations._providers`` lists the modules; adding a provider means writing its module and
listing it there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

__all__ = [
    "BlockKind",
    "Blocks",
    "Message",
    "MessageConverter",
    "Part",
    "Shape",
    "Tool",
    "Unconvertible",
    "assistant",
    "assistant_from",
    "call",
    "convert_turn",
    "function",
    "json_text",
    "system_and_messages",
    "text",
]

Message = dict[str, Any]
Tool = dict[str, Any]
BlockKind = Literal["text", "call", "result", "skip"]
#: One provider content block -> (kind, payload): text str, a ToolCall, a tool Message, or nothing.
Blocks = Callable[[Any], tuple[BlockKind, Any]]


class Unconvertible(ValueError):
    """The span's input/output cannot be expressed as common messages; the message says why."""


class Part(NamedTuple):
    """A tool call (``name``, ``value`` = the arguments as JSON text) or a tool result (``value`` = its raw
    content) found in one content block, unconverted: what the text renderers show."""

    kind: Literal["call", "result"]
    name: Any
    value: Any


@dataclass(frozen=True)
class Shape:
    """The key names a provider's captures use where they differ from the common shape.

    The common shape's own keys (``role``, ``content``, ``text``, ``type``, ``messages``,
    ``tool_calls``) are left out: every renderer knows them.
    """

    system: tuple[str, ...] = ()  #: the system prompt beside the turns in a captured ``input``
    turns: tuple[str, ...] = ()  #: the list of turns in a captured ``input`` (besides ``messages``)
    body: tuple[str, ...] = ()  #: one turn's content (besides ``content``)
    results: tuple[str, ...] = ()  #: the key wrapping a tool-result block
    data: tuple[str, ...] = ()  #: structured (JSON) content inside a tool result
    replies: tuple[str, ...] = ()  #: a response's envelopes around the reply (choices, candidates)
    reply_text: tuple[str, ...] = ()  #: the reply's text in a response (besides ``content``/``text``)
    not_reply: tuple[str, ...] = ()  #: block types in a reply that are not its text (tool calls, reasoning)


class MessageConverter(Protocol):
    """What a provider's ``messages`` module offers (the module itself satisfies this protocol)."""

    @property
    def SHAPE(self) -> Shape:
        """The key names its captures use (for the text renderers)."""
        ...

    def part(self, block: Any) -> Part | None:
        """The tool call or tool result in one of its content blocks, or None (text, media, not its block)."""
        ...

    def input_messages(self, value: Any, request: Mapping[str, Any]) -> list[Message]:
        """The captured ``input`` (with the captured ``request`` for a system prompt) as messages."""
        ...

    def output_messages(self, value: Any, tool_calls: Any) -> list[Message]:
        """The captured ``output`` and ``tool_calls`` as the assistant's message(s)."""
        ...

    def tools(self, request: Mapping[str, Any]) -> list[Tool] | None:
        """The tool definitions sent in the captured ``request``, or None."""
        ...


def system_and_messages(value: Any, request: Mapping[str, Any], blocks: Blocks) -> list[Message]:
    """``{"system", "messages"}`` (or the bare messages list) with content blocks -> messages."""
    system: Any = request.get("system")
    if isinstance(value, dict):
        system = value.get("system", system)
        value = value.get("messages")
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise Unconvertible("input is not a messages list")
    out: list[Message] = []
    if system:
        out.append({"role": "system", "content": text(system)})
    for message in value:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise Unconvertible("input message without a user/assistant role")
        out.extend(convert_turn(message["role"], message.get("content"), blocks))
    return out


def assistant_from(value: Any, blocks: Blocks, tool_calls: Any = None) -> list[Message]:
    """A captured output (text, content blocks, a message dict) -> one assistant message."""
    # The integrations record the text as ``output`` and the calls as ``tool_calls`` (OpenAI shape).
    if (value is None or isinstance(value, str)) and isinstance(tool_calls, list) and tool_calls:
        return [assistant(value, tool_calls)]
    if isinstance(value, dict) and isinstance(value.get("message"), dict):  # bedrock {"output": {"message"}}
        value = value["message"]
    if isinstance(value, dict) and ("content" in value or "parts" in value):
        value = value.get("content", value.get("parts"))
    turn = convert_turn("assistant", value, blocks)
    if len(turn) != 1:
        raise Unconvertible("output holds something other than one assistant message")
    return turn


def convert_turn(role: str, content: Any, blocks: Blocks) -> list[Message]:
    """One provider turn -> messages (tool results become separate ``tool`` messages)."""
    if isinstance(content, str):
        return [assistant(content, None) if role == "assistant" else {"role": "user", "content": content}]
    if not isinstance(content, list):
        raise Unconvertible(f"{role} content has an unknown shape")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[Message] = []
    for block in content:
        kind, payload = blocks(block)
        if kind == "text":
            texts.append(payload)
        elif kind == "call":
            calls.append(payload)
        elif kind == "result":
            results.append(payload)
    joined = "\n".join(texts) if texts else None
    if role == "assistant":
        if results:
            raise Unconvertible("tool result inside an assistant turn")
        return [assistant(joined, calls or None)]
    if calls:
        raise Unconvertible("tool call inside a user turn")
    out = list(results)
    if joined is not None:
        out.append({"role": "user", "content": joined})
    return out


def assistant(content: str | None, tool_calls: Any) -> Message:
    """The assistant message; raises when it would carry neither text nor tool calls."""
    message: Message = {"role": "assistant", "content": content if content else None}
    calls = [_normalise_call(c) for c in tool_calls] if isinstance(tool_calls, list) and tool_calls else []
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        raise Unconvertible("assistant message with neither text nor tool calls")
    return message


def _normalise_call(tool_call: Any) -> dict[str, Any]:
    if not isinstance(tool_call, dict):
        raise Unconvertible("tool call is not an object")
    raw_fn = tool_call.get("function")
    fn: dict[str, Any] = raw_fn if isinstance(raw_fn, dict) else tool_call
    return call(tool_call.get("id"), fn.get("name"), fn.get("arguments", fn.get("input", fn.get("args"))))


def call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """A ``ToolCall`` (arguments serialised to JSON text when they are not already)."""
    if not name:
        raise Unconvertible("tool call without a name")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {
        "id": str(call_id or f"call_{name}"),
        "type": "function",
        "function": {"name": str(name), "arguments": arguments},
    }


def function(name: Any, description: Any, parameters: Any) -> Tool:
    """A tool definition."""
    fn: dict[str, Any] = {"name": str(name)}
    if description:
        fn["description"] = str(description)
    if isinstance(parameters, dict):
        fn["parameters"] = parameters
    return {"type": "function", "function": fn}


def json_text(value: Any) -> str:
    """Any value as compact JSON text (non-JSON values as their ``str``), for display."""
    return json.dumps(value, ensure_ascii=False, default=str)


def text(value: Any) -> str:
    """Any content (str, list of parts/blocks, a dict with ``text``, other JSON) as one string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, str):
                parts.append(item)
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                parts.append(item["text"])
            else:
                parts.append(json.dumps(item, ensure_ascii=False, default=str))
        return "\n".join(parts)
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return str(value["text"])
    return json.dumps(value, ensure_ascii=False, default=str)
