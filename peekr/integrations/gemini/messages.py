"""Gemini ``generate_content`` spans -> the common message shape (``peekr.integrations._messages``).

Captured shapes: ``input`` is ``contents`` (a text, a list of texts, or Content dicts with
``parts``), possibly wrapped as ``{"system": ..., "contents": ...}`` (as the integration captures it; also
``system_instruction`` / ``systemInstruction``); parts ``text`` /
``function_call`` / ``function_response`` (snake or camel case; ``thought`` parts are left out);
``output`` is a Content dict, a parts list or the text; the system instruction and the tools may
also sit in ``request`` (or its ``config``).
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
    convert_turn,
    function,
    json_text,
    text,
)

__all__ = ["SHAPE", "block", "input_messages", "output_messages", "part", "tools"]

#: ``contents`` of Content dicts with ``parts``; the SDK's own system-instruction names; ``candidates``;
#: a tool's result is a ``function_response`` part whose ``response`` holds JSON
SHAPE = Shape(
    system=("system", "system_instruction", "systemInstruction"),
    turns=("contents",),
    body=("parts",),
    results=("function_response", "functionResponse"),
    data=("response",),
    replies=("candidates",),
)


def input_messages(value: Any, request: Mapping[str, Any]) -> list[Message]:
    """The system instruction and the contents sent (``model`` turns become ``assistant``)."""
    system: Any = request.get("system_instruction") or request.get("systemInstruction")
    config = request.get("config")
    if isinstance(config, dict):
        system = system or config.get("system_instruction") or config.get("systemInstruction")
    if isinstance(value, dict) and "contents" in value:
        # the integration captures it as "system"; older records and hand-made spans use the SDK's names
        system = value.get("system") or value.get("system_instruction") or value.get("systemInstruction") or system
        value = value["contents"]
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list):
        raise Unconvertible("Gemini contents have an unknown shape")
    out: list[Message] = []
    if system:
        out.append({"role": "system", "content": _system_text(system)})
    for content in value:
        if isinstance(content, str):
            out.append({"role": "user", "content": content})
            continue
        if not isinstance(content, dict) or "parts" not in content:
            raise Unconvertible("Gemini content without parts")
        role = "assistant" if content.get("role") == "model" else "user"
        out.extend(convert_turn(role, content["parts"], block))
    return out


def output_messages(value: Any, tool_calls: Any) -> list[Message]:
    """The model's reply."""
    return assistant_from(value, block, tool_calls)


def tools(request: Mapping[str, Any]) -> list[Tool] | None:
    """The ``function_declarations`` of the request's (or its config's) tools."""
    raw_config = request.get("config")
    config: Mapping[str, Any] = raw_config if isinstance(raw_config, dict) else request
    out = []
    for tool in config.get("tools") or []:
        decls = (
            tool.get("function_declarations") or tool.get("functionDeclarations") if isinstance(tool, dict) else None
        )
        for decl in decls or []:
            if isinstance(decl, dict) and decl.get("name"):
                out.append(function(decl["name"], decl.get("description"), decl.get("parameters")))
    return out or None


def part(value: Any) -> Part | None:
    """A ``function_call`` part (``args``) or a ``function_response`` part (``response``) as a :class:`Part`
    (snake or camel case)."""
    if not isinstance(value, dict):
        return None
    fn_call = value.get("function_call") or value.get("functionCall")
    response = value.get("function_response") or value.get("functionResponse")
    if isinstance(fn_call, dict):
        return Part("call", fn_call.get("name"), json_text(fn_call.get("input", fn_call.get("args"))))
    if isinstance(response, dict):
        return Part("result", None, response.get("content", response.get("response")))
    return None


def block(part: Any) -> tuple[BlockKind, Any]:
    """One part -> (kind, payload); a call without an id gets ``call_<name>``."""
    if isinstance(part, str):
        return "text", part
    if not isinstance(part, dict):
        raise Unconvertible("Gemini part is not an object")
    if part.get("thought"):
        return "skip", None
    if "text" in part:
        return "text", str(part["text"])
    fn_call = part.get("function_call") or part.get("functionCall")
    if isinstance(fn_call, dict):
        return "call", call(
            fn_call.get("id") or f"call_{fn_call.get('name')}", fn_call.get("name"), fn_call.get("args")
        )
    response = part.get("function_response") or part.get("functionResponse")
    if isinstance(response, dict):
        call_id = response.get("id") or f"call_{response.get('name')}"
        return "result", {"role": "tool", "tool_call_id": str(call_id), "content": text(response.get("response"))}
    raise Unconvertible(f"Gemini part {sorted(part)!r} cannot be converted")


def _system_text(system: Any) -> str:
    if isinstance(system, dict) and "parts" in system:
        return text([p.get("text", "") for p in system["parts"] if isinstance(p, dict)])
    return text(system)
