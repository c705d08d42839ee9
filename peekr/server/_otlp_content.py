"""Prompts and replies of an OTLP span -> Peekr's ``input``, ``output`` and ``tool_calls`` (OpenAI-style chat shapes).

Read from the GenAI conventions' ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (parts), the
older flattened ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``, OpenInference's
``llm.input_messages.N.message.*``, or the raw ``input.value`` / ``output.value``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._otlp_peekr import loads_if_json

__all__ = ["Reader", "read_content"]

_INDEX = re.compile(r"(\d+)\.(.+)")


class Reader:
    """The span's attributes; remembers which were used, so the rest can be kept as they are."""

    def __init__(self, attributes: Mapping[str, Any]) -> None:
        self.attributes = attributes
        self.used: set[str] = set()

    def get(self, *names: str) -> Any:
        for name in names:
            value = self.attributes.get(name)
            if value is not None:
                self.used.add(name)
                return value
        return None

    def indexed(self, prefix: str) -> list[dict[str, Any]]:
        """``prefix.0.a.b = x`` -> ``[{"a.b": x}]``, in index order."""
        items: dict[int, dict[str, Any]] = {}
        for name, value in self.attributes.items():
            if name.startswith(prefix):
                match = _INDEX.fullmatch(name[len(prefix) :])
                if match is not None:
                    self.used.add(name)
                    items.setdefault(int(match.group(1)), {})[match.group(2)] = value
        return [items[i] for i in sorted(items)]


def read_content(r: Reader, out: dict[str, Any]) -> None:
    """Prompts and replies (``input``, ``output``, ``tool_calls``, ``finish_reason``) into ``out``."""
    system = loads_if_json(r.get("gen_ai.system_instructions"))
    messages = loads_if_json(r.get("gen_ai.input.messages"))
    if isinstance(messages, list):
        inputs = [_from_parts(m) for m in messages if isinstance(m, Mapping)]
        if isinstance(system, list) and system:
            inputs.insert(0, {"role": "system", "content": _text(system)})
        out["input"] = inputs
    elif prompts := r.indexed("gen_ai.prompt."):
        out["input"] = [_flat_message(p) for p in prompts]
    elif oi_messages := r.indexed("llm.input_messages."):
        out["input"] = [_oi_message(m) for m in oi_messages]
    replies = loads_if_json(r.get("gen_ai.output.messages"))
    if isinstance(replies, list):
        _outputs([_from_parts(m) for m in replies if isinstance(m, Mapping)], out)
    elif completions := r.indexed("gen_ai.completion."):
        _outputs([_flat_message(c) for c in completions], out)
    elif oi_replies := r.indexed("llm.output_messages."):
        _outputs([_oi_message(m) for m in oi_replies], out)
    for key, value_key, mime_key in (("input", "input.value", "input.mime_type"),
                                     ("output", "output.value", "output.mime_type")):  # fmt: skip
        value = r.get(value_key)
        mime = r.get(mime_key)
        if value is not None and key not in out:
            out[key] = loads_if_json(value) if mime == "application/json" else value
    if "input" not in out and isinstance(r.get("gen_ai.prompt"), str):
        out["input"] = r.get("gen_ai.prompt")
    if "output" not in out and isinstance(r.get("gen_ai.completion"), str):
        out["output"] = r.get("gen_ai.completion")


def _text(parts: list[Any]) -> str:
    return "".join(str(p.get("content", "")) for p in parts if isinstance(p, Mapping) and p.get("type") == "text")


def _from_parts(message: Mapping[str, Any]) -> dict[str, Any]:
    """A conventions message (``{"role", "parts"}``) -> an OpenAI-style chat message."""
    parts = [p for p in message.get("parts") or () if isinstance(p, Mapping)]
    out: dict[str, Any] = {"role": str(message.get("role") or "user")}
    calls = [p for p in parts if p.get("type") == "tool_call"]
    answers = [p for p in parts if p.get("type") == "tool_call_response"]
    others = [p for p in parts if p.get("type") not in ("text", "tool_call", "tool_call_response")]
    if answers and len(parts) == 1:
        out["role"] = "tool"
        out["tool_call_id"] = answers[0].get("id")
        out["content"] = answers[0].get("response")
        return out
    out["content"] = _text(parts) if not others else [dict(p) for p in parts if p.get("type") != "tool_call"]
    if calls:
        out["tool_calls"] = [_call(p.get("id"), p.get("name"), p.get("arguments")) for p in calls]
    if isinstance(message.get("finish_reason"), str):
        out["finish_reason"] = message["finish_reason"]
    return out


def _call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "name": name, "arguments": loads_if_json(arguments)}


def _flat_message(item: Mapping[str, Any]) -> dict[str, Any]:
    """``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` (OpenLLMetry's older attributes)."""
    out: dict[str, Any] = {"role": str(item.get("role") or "user"), "content": loads_if_json(item.get("content"))}
    calls = _nested(item, "tool_calls.")
    if calls:
        out["tool_calls"] = [_call(c.get("id"), c.get("name"), c.get("arguments")) for c in calls]
    if item.get("tool_call_id") is not None:
        out["tool_call_id"] = item["tool_call_id"]
    if isinstance(item.get("finish_reason"), str):
        out["finish_reason"] = item["finish_reason"]
    return out


def _oi_message(item: Mapping[str, Any]) -> dict[str, Any]:
    """``llm.input_messages.N.message.*`` (OpenInference)."""
    out: dict[str, Any] = {"role": str(item.get("message.role") or "user")}
    content = item.get("message.content")
    if content is None:
        contents = _nested(item, "message.contents.")
        content = "".join(str(c.get("message_content.text", "")) for c in contents)
    out["content"] = content
    calls = _nested(item, "message.tool_calls.")
    if calls:
        out["tool_calls"] = [
            _call(c.get("tool_call.id"), c.get("tool_call.function.name"), c.get("tool_call.function.arguments"))
            for c in calls
        ]
    if item.get("message.tool_call_id") is not None:
        out["tool_call_id"] = item["message.tool_call_id"]
    return out


def _nested(item: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for name, value in item.items():
        if name.startswith(prefix):
            match = _INDEX.fullmatch(name[len(prefix) :])
            if match is not None:
                found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [found[i] for i in sorted(found)]


def _outputs(messages: list[dict[str, Any]], out: dict[str, Any]) -> None:
    """Reply messages -> Peekr's ``output`` text (a list for several choices), ``tool_calls``, ``finish_reason``."""
    if not messages:
        return
    texts = [m.get("content") for m in messages]
    texts = [t for t in texts if t not in (None, "")]
    if texts:
        out["output"] = texts[0] if len(texts) == 1 else texts
    calls = [call for m in messages for call in m.get("tool_calls") or ()]
    if calls:
        out["tool_calls"] = calls
    reason = messages[0].get("finish_reason")
    if "finish_reason" not in out and isinstance(reason, str):
        out["finish_reason"] = reason
