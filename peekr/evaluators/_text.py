"""Turn span inputs and outputs (strings, message lists, provider payloads) into plain text.

Inputs come in many shapes: a prompt string; an OpenAI/Anthropic messages list whose
``content`` is a string or a list of blocks; ``{"system": ..., "messages" | "contents" |
"input": ...}``; Gemini ``contents`` with ``parts``; Bedrock ``content`` blocks. Outputs are a
string, a message dict, or a list of choices. Images, audio and tool schemas carry no
checkable facts and are left out; tool results are kept (they are often the RAG context).
The provider-specific key names come from the providers' ``messages`` modules
(``peekr.integrations._providers``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..integrations._providers import keys

__all__ = ["context_text", "response_text", "to_text"]

_CONTAINER_KEYS = ("system", "instructions", "messages", *keys("turns"), "input", "prompt", "documents", "context")
_TEXT_KEYS = ("text", "content", *keys("body"), "output", *keys("results"), "tool_result", "result", "message")
_DATA_KEYS = keys("data")
_SKIP_TYPES = {"image", "image_url", "input_image", "audio", "input_audio", "file", "document_ref"}
_REPLY_KEYS = keys("replies")
_REPLY_TEXT_KEYS = ("content", "text", *keys("reply_text"), "output", *keys("body"))
_NOT_REPLY = keys("not_reply")


def _texts(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > 12 or value is None:
        return
    if isinstance(value, str):
        if value.strip():
            yield value.strip()
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item, depth + 1)
        return
    if not isinstance(value, dict):
        return
    if value.get("type") in _SKIP_TYPES:
        return
    role = value.get("role")
    found = False
    for key in (*_CONTAINER_KEYS, *_TEXT_KEYS):
        if key in value:
            inner = list(_texts(value[key], depth + 1))
            if inner:
                found = True
                if role in ("system", "tool") and key == "content":
                    yield f"[{role}] " + "\n".join(inner)
                else:
                    yield from inner
    if not found:  # Bedrock tool results: {"json": {...}}
        for key in _DATA_KEYS:
            if key in value:
                yield json.dumps(value[key], ensure_ascii=False, default=str)
                break


def to_text(value: Any) -> str:
    """Flatten any input/output/context shape to text (blocks joined by blank lines)."""
    return "\n\n".join(_texts(value))


def context_text(value: Any) -> str:
    """What a context extractor returned, as text (str, list of documents, messages, dicts)."""
    return to_text(value)


def response_text(output: Any) -> str:
    """The assistant's text in a span's ``output`` (tool calls and reasoning left out)."""
    if isinstance(output, dict):
        for key in _REPLY_KEYS:
            if key in output:
                return response_text(output[key])
        for key in _REPLY_TEXT_KEYS:
            if key in output and output[key] is not None:
                return response_text(output[key])
        return ""
    if isinstance(output, list):
        parts = []
        for item in output:
            if isinstance(item, dict) and item.get("type") in _NOT_REPLY:
                continue
            text = response_text(item)
            if text:
                parts.append(text)
        return "\n\n".join(parts)
    if isinstance(output, str):
        return output.strip()
    return ""
