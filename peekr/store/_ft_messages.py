"""Turn a provider span's captured input/output into OpenAI chat messages (for fine-tuning export).

This module only picks the provider from the span name and hands the captured ``input``,
``output``, ``tool_calls`` and ``request`` to that provider's ``messages`` module
(``peekr.integrations.<provider>.messages``), which knows its shapes and returns the common
message shape (``peekr.integrations._messages``; OpenAI chat format). Anything a converter cannot
express raises :class:`Unconvertible` and the span is skipped and counted.

Exported: OpenAI chat completions, Anthropic messages, Gemini ``generate_content`` and Bedrock
``converse``; not embeddings, the Responses API or Bedrock ``invoke_model`` bodies.
"""

from __future__ import annotations

from typing import Any

from ..integrations._messages import Message, MessageConverter, Unconvertible
from ..integrations.anthropic import messages as anthropic_messages
from ..integrations.bedrock import messages as bedrock_messages
from ..integrations.gemini import messages as gemini_messages
from ..integrations.openai import messages as openai_messages

__all__ = ["Unconvertible", "span_to_messages"]

#: span-name prefix -> the provider's converter (first match wins; exclusions come first in ``_converter``)
_CONVERTERS: tuple[tuple[str, MessageConverter], ...] = (
    ("openai.chat", openai_messages),
    ("anthropic.", anthropic_messages),
    ("gemini.", gemini_messages),
    ("bedrock.converse", bedrock_messages),
)


def span_to_messages(span: dict[str, Any]) -> tuple[list[Message], list[dict[str, Any]] | None]:
    """Return ``(messages, tools)`` in OpenAI chat format for one provider span.

    Raises:
        Unconvertible: Not a chat call, or input/output missing or of an unknown shape.
    """
    attrs = span.get("attributes") or {}
    converter = _converter(span)
    if attrs.get("input") is None:
        raise Unconvertible("no captured input")
    if attrs.get("output") is None and not attrs.get("tool_calls"):
        raise Unconvertible("no captured output")
    raw_request = attrs.get("request")
    request: dict[str, Any] = raw_request if isinstance(raw_request, dict) else {}
    messages = converter.input_messages(attrs["input"], request)
    answer = converter.output_messages(attrs.get("output"), attrs.get("tool_calls"))
    return [*messages, *answer], converter.tools(request)


def _converter(span: dict[str, Any]) -> MessageConverter:
    name = str(span.get("name") or "")
    if name.startswith("openai.embeddings"):
        raise Unconvertible("embeddings call, not a chat call")
    if name.startswith("openai.responses"):
        raise Unconvertible("OpenAI Responses API call (only chat completions are exported)")
    if name.startswith("bedrock.invoke_model"):
        raise Unconvertible("bedrock invoke_model body (model-native); only converse is exported")
    for prefix, converter in _CONVERTERS:
        if name.startswith(prefix):
            return converter
    raise Unconvertible(f"span {name!r} is not a chat call of a known provider")
