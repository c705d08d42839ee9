"""Turn a provider span's captured input/output into OpenAI chat messages (for fine-tuning export).

Assumed shapes of ``attributes.input`` / ``output`` per provider (defensive: anything else
raises :class:`Unconvertible` and the span is skipped and counted):

* OpenAI chat: ``input`` = the ``messages`` list as sent; ``output`` = the assistant message dict,
  a list of choices/messages, or the text; ``tool_calls`` attribute in OpenAI's shape.
* Anthropic: ``input`` = ``{"system": ..., "messages": [...]}`` or the messages list; content blocks
  ``text``/``tool_use``/``tool_result``; ``output`` = the content blocks, a message dict or text.
* Gemini: ``input`` = ``contents`` (text, list of texts, or Content dicts with ``parts``), optionally
  wrapped as ``{"system_instruction": ..., "contents": ...}``; parts ``text``/``function_call``/
  ``function_response`` (snake or camel case); ``output`` = a Content dict, parts list or text.
* Bedrock converse: ``input`` = ``{"system": [...], "messages": [...]}`` or the messages list; blocks
  ``text``/``toolUse``/``toolResult``; ``output`` = ``{"role", "content"}``, the blocks or text.

A ``system`` prompt may also come from ``attributes.request`` (``system``, ``system_instruction``).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["Unconvertible", "span_to_messages"]


class Unconvertible(ValueError):
    """The span's input/output cannot be expressed as OpenAI chat messages; the message says why."""


Message = dict[str, Any]


def span_to_messages(span: dict[str, Any]) -> tuple[list[Message], list[dict[str, Any]] | None]:
    """Return ``(messages, tools)`` in OpenAI chat format for one provider span.

    Raises:
        Unconvertible: Not a chat call, or input/output missing or of an unknown shape.
    """
    attrs = span.get("attributes") or {}
    provider = _provider(span)
    if attrs.get("input") is None:
        raise Unconvertible("no captured input")
    if attrs.get("output") is None and not attrs.get("tool_calls"):
        raise Unconvertible("no captured output")
    raw_request = attrs.get("request")
    request: dict[str, Any] = raw_request if isinstance(raw_request, dict) else {}
    if provider == "openai":
        messages = _openai_input(attrs["input"])
        answer = _openai_output(attrs.get("output"), attrs.get("tool_calls"))
        tools = _openai_tools(request.get("tools"))
    elif provider in ("anthropic", "bedrock"):
        blocks = _bedrock_blocks if provider == "bedrock" else _anthropic_blocks
        messages = _system_and_messages(attrs["input"], request, blocks)
        answer = _assistant_from(attrs.get("output"), blocks, attrs.get("tool_calls"))
        tools = _anthropic_tools(request.get("tools")) if provider == "anthropic" else _bedrock_tools(request)
    elif provider == "gemini":
        messages = _gemini_input(attrs["input"], request)
        answer = _assistant_from(attrs.get("output"), _gemini_blocks, attrs.get("tool_calls"))
        tools = _gemini_tools(request)
    else:
        raise Unconvertible(f"span {span.get('name')!r} is not a chat call of a known provider")
    return [*messages, *answer], tools


def _provider(span: dict[str, Any]) -> str:
    name = str(span.get("name") or "")
    if name.startswith("openai.embeddings"):
        raise Unconvertible("embeddings call, not a chat call")
    if name.startswith("openai.responses"):
        raise Unconvertible("OpenAI Responses API call (only chat completions are exported)")
    if name.startswith("bedrock.invoke_model"):
        raise Unconvertible("bedrock invoke_model body (model-native); only converse is exported")
    for prefix, provider in (
        ("openai.chat", "openai"),
        ("anthropic.", "anthropic"),
        ("gemini.", "gemini"),
        ("bedrock.converse", "bedrock"),
    ):
        if name.startswith(prefix):
            return provider
    raise Unconvertible(f"span {name!r} is not a chat call of a known provider")


# --- OpenAI -----------------------------------------------------------------------------------


def _openai_input(value: Any) -> list[Message]:
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
            out.append(_assistant(_text(message.get("content")), message.get("tool_calls")))
        elif role == "tool":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": str(message.get("tool_call_id", "")),
                    "content": _text(message.get("content")),
                }
            )
        elif role in ("system", "user"):
            out.append({"role": role, "content": _openai_content(message.get("content"))})
        else:
            raise Unconvertible(f"OpenAI message role {role!r} is not supported")
    return out


def _openai_output(value: Any, tool_calls: Any) -> list[Message]:
    if isinstance(value, list) and value:  # choices or messages: take the first
        value = value[0]
    if isinstance(value, dict) and isinstance(value.get("message"), dict):
        value = value["message"]
    if isinstance(value, dict):
        return [_assistant(_text(value.get("content")), value.get("tool_calls") or tool_calls)]
    if isinstance(value, str) or value is None:
        return [_assistant(value, tool_calls)]
    raise Unconvertible("OpenAI output has an unknown shape")


def _openai_content(content: Any) -> Any:
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") != "text" for p in content):
        return content  # images etc. are kept as OpenAI content parts
    if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") not in ("text", None) for p in content):
        return content
    return _text(content)


def _openai_tools(tools: Any) -> list[dict[str, Any]] | None:
    if not isinstance(tools, list) or not tools:
        return None
    return [t for t in tools if isinstance(t, dict) and t.get("type") == "function"] or None


# --- Anthropic and Bedrock share the system + messages + blocks layout --------------------------


def _system_and_messages(value: Any, request: dict[str, Any], blocks: Any) -> list[Message]:
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
        out.append({"role": "system", "content": _text(system)})
    for message in value:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise Unconvertible("input message without a user/assistant role")
        out.extend(_convert_turn(message["role"], message.get("content"), blocks))
    return out


def _assistant_from(value: Any, blocks: Any, tool_calls: Any = None) -> list[Message]:
    # The integrations record the text as ``output`` and the calls as ``tool_calls`` (OpenAI shape).
    if (value is None or isinstance(value, str)) and isinstance(tool_calls, list) and tool_calls:
        return [_assistant(value, tool_calls)]
    if isinstance(value, dict) and isinstance(value.get("message"), dict):  # bedrock {"output": {"message"}}
        value = value["message"]
    if isinstance(value, dict) and ("content" in value or "parts" in value):
        value = value.get("content", value.get("parts"))
    turn = _convert_turn("assistant", value, blocks)
    if len(turn) != 1:
        raise Unconvertible("output holds something other than one assistant message")
    return turn


def _convert_turn(role: str, content: Any, blocks: Any) -> list[Message]:
    """One provider turn -> OpenAI messages (tool results become separate ``tool`` messages)."""
    if isinstance(content, str):
        return [_assistant(content, None) if role == "assistant" else {"role": "user", "content": content}]
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
    text = "\n".join(texts) if texts else None
    if role == "assistant":
        if results:
            raise Unconvertible("tool result inside an assistant turn")
        return [_assistant(text, calls or None)]
    if calls:
        raise Unconvertible("tool call inside a user turn")
    out = list(results)
    if text is not None:
        out.append({"role": "user", "content": text})
    return out


def _anthropic_blocks(block: Any) -> tuple[str, Any]:
    if isinstance(block, str):
        return "text", block
    if not isinstance(block, dict):
        raise Unconvertible("Anthropic content block is not an object")
    kind = block.get("type")
    if kind == "text":
        return "text", str(block.get("text", ""))
    if kind in ("tool_use", "server_tool_use"):
        return "call", _call(block.get("id"), block.get("name"), block.get("input"))
    if kind == "tool_result":
        return "result", {
            "role": "tool",
            "tool_call_id": str(block.get("tool_use_id", "")),
            "content": _text(block.get("content")),
        }
    if kind in ("thinking", "redacted_thinking"):
        return "skip", None
    raise Unconvertible(f"Anthropic content block {kind!r} cannot be converted")


def _anthropic_tools(tools: Any) -> list[dict[str, Any]] | None:
    if not isinstance(tools, list):
        return None
    out = [
        _function(t.get("name"), t.get("description"), t.get("input_schema"))
        for t in tools
        if isinstance(t, dict) and t.get("name") and "input_schema" in t
    ]
    return out or None


def _bedrock_blocks(block: Any) -> tuple[str, Any]:
    if isinstance(block, str):
        return "text", block
    if not isinstance(block, dict):
        raise Unconvertible("Bedrock content block is not an object")
    if "text" in block:
        return "text", str(block["text"])
    if isinstance(block.get("toolUse"), dict):
        use = block["toolUse"]
        return "call", _call(use.get("toolUseId"), use.get("name"), use.get("input"))
    if isinstance(block.get("toolResult"), dict):
        res = block["toolResult"]
        parts = [
            p.get("text") if "text" in p else p.get("json") for p in res.get("content") or [] if isinstance(p, dict)
        ]
        return "result", {"role": "tool", "tool_call_id": str(res.get("toolUseId", "")), "content": _text(parts)}
    if "reasoningContent" in block:
        return "skip", None
    raise Unconvertible(f"Bedrock content block {sorted(block)!r} cannot be converted")


def _bedrock_tools(request: dict[str, Any]) -> list[dict[str, Any]] | None:
    config = request.get("toolConfig") or {}
    tools = config.get("tools") if isinstance(config, dict) else None
    out = []
    for tool in tools or []:
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if isinstance(spec, dict) and spec.get("name"):
            schema = spec.get("inputSchema") or {}
            out.append(_function(spec["name"], spec.get("description"), schema.get("json", schema)))
    return out or None


# --- Gemini -----------------------------------------------------------------------------------


def _gemini_input(value: Any, request: dict[str, Any]) -> list[Message]:
    system: Any = request.get("system_instruction") or request.get("systemInstruction")
    config = request.get("config")
    if isinstance(config, dict):
        system = system or config.get("system_instruction") or config.get("systemInstruction")
    if isinstance(value, dict) and "contents" in value:
        system = value.get("system_instruction") or value.get("systemInstruction") or system
        value = value["contents"]
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list):
        raise Unconvertible("Gemini contents have an unknown shape")
    out: list[Message] = []
    if system:
        out.append({"role": "system", "content": _gemini_text(system)})
    for content in value:
        if isinstance(content, str):
            out.append({"role": "user", "content": content})
            continue
        if not isinstance(content, dict) or "parts" not in content:
            raise Unconvertible("Gemini content without parts")
        role = "assistant" if content.get("role") == "model" else "user"
        out.extend(_convert_turn(role, content["parts"], _gemini_blocks))
    return out


def _gemini_blocks(part: Any) -> tuple[str, Any]:
    if isinstance(part, str):
        return "text", part
    if not isinstance(part, dict):
        raise Unconvertible("Gemini part is not an object")
    if part.get("thought"):
        return "skip", None
    if "text" in part:
        return "text", str(part["text"])
    call = part.get("function_call") or part.get("functionCall")
    if isinstance(call, dict):
        return "call", _call(call.get("id") or f"call_{call.get('name')}", call.get("name"), call.get("args"))
    response = part.get("function_response") or part.get("functionResponse")
    if isinstance(response, dict):
        call_id = response.get("id") or f"call_{response.get('name')}"
        return "result", {"role": "tool", "tool_call_id": str(call_id), "content": _text(response.get("response"))}
    raise Unconvertible(f"Gemini part {sorted(part)!r} cannot be converted")


def _gemini_text(system: Any) -> str:
    if isinstance(system, dict) and "parts" in system:
        return _text([p.get("text", "") for p in system["parts"] if isinstance(p, dict)])
    return _text(system)


def _gemini_tools(request: dict[str, Any]) -> list[dict[str, Any]] | None:
    raw_config = request.get("config")
    config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else request
    out = []
    for tool in config.get("tools") or []:
        decls = (
            tool.get("function_declarations") or tool.get("functionDeclarations") if isinstance(tool, dict) else None
        )
        for decl in decls or []:
            if isinstance(decl, dict) and decl.get("name"):
                out.append(_function(decl["name"], decl.get("description"), decl.get("parameters")))
    return out or None


# --- shared -----------------------------------------------------------------------------------


def _assistant(text: str | None, tool_calls: Any) -> Message:
    message: Message = {"role": "assistant", "content": text if text else None}
    calls = [_normalise_call(c) for c in tool_calls] if isinstance(tool_calls, list) and tool_calls else []
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        raise Unconvertible("assistant message with neither text nor tool calls")
    return message


def _normalise_call(call: Any) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise Unconvertible("tool call is not an object")
    raw_fn = call.get("function")
    fn: dict[str, Any] = raw_fn if isinstance(raw_fn, dict) else call
    return _call(call.get("id"), fn.get("name"), fn.get("arguments", fn.get("input", fn.get("args"))))


def _call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    if not name:
        raise Unconvertible("tool call without a name")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {
        "id": str(call_id or f"call_{name}"),
        "type": "function",
        "function": {"name": str(name), "arguments": arguments},
    }


def _function(name: Any, description: Any, parameters: Any) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": str(name)}
    if description:
        fn["description"] = str(description)
    if isinstance(parameters, dict):
        fn["parameters"] = parameters
    return {"type": "function", "function": fn}


def _text(value: Any) -> str:
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
