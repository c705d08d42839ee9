"""Expected spans for the fake provider's deterministic replies (see docs/fake-provider.md).

Token rule of the fake: a token is a whitespace-separated word; the reply is ``"Echo: "`` + the
last user text; a stream's ``message_start`` reports ``output_tokens=1`` and its ``message_delta``
the cumulative usage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from anthropic.types import MessageParam, RawMessageStreamEvent, ToolParam
from anthropic.types.beta import BetaMessageParam, BetaToolParam

import peekr
from peekr.sinks.memory import InMemorySink

# trio warns (ResourceWarning) when an async generator is collected unexhausted: the SDK's own
# AsyncStream/SSEDecoder generators after an `event: error` or a stream left early, with or
# without peekr (checked); with peekr the warning may name peekr's traced generator instead.
TRIO_UNEXHAUSTED_GENERATORS = pytest.mark.filterwarnings(
    "ignore:Async generator .* was garbage collected:ResourceWarning"
)

HELLO: list[MessageParam] = [{"role": "user", "content": "Hello there"}]
BETA_HELLO: list[BetaMessageParam] = [{"role": "user", "content": "Hello there"}]
SYSTEM = "Be brief."
TOOLS: list[ToolParam] = [
    {
        "name": "lookup",
        "description": "Look something up.",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    }
]
BETA_TOOLS: list[BetaToolParam] = [
    {"name": "lookup", "description": "Look something up.", "input_schema": TOOLS[0]["input_schema"]}
]
TOOL_CALL = {"id": "toolu_fake_0", "type": "function", "name": "lookup", "arguments": json.dumps({"q": "Hello there"})}


def usage(tokens_input: int, tokens_output: int | None, cache_read: int = 0, cache_write: int = 0) -> dict[str, Any]:
    """The token attributes peekr derives from Anthropic usage (None output: not reported)."""
    attrs: dict[str, Any] = {
        "tokens_input": tokens_input + cache_read + cache_write,
        "tokens_cache_read": cache_read,
        "tokens_cache_write": cache_write,
    }
    if tokens_output is not None:
        attrs["tokens_output"] = tokens_output
        attrs["tokens_total"] = attrs["tokens_input"] + tokens_output
    return attrs


def attributes(
    model: str,
    *,
    stream: bool = False,
    system: str | None = None,
    messages: Any = HELLO,
    request: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The whole attribute dict of an ``anthropic.messages`` span (ttft_ms is checked apart)."""
    attrs: dict[str, Any] = {
        "provider": "anthropic",
        "model": model,
        "input": {"system": system, "messages": messages} if system is not None else messages,
        "request": request if request is not None else {"max_tokens": 50, **({"stream": True} if stream else {})},
    }
    if stream:
        attrs["stream"] = True
    attrs.update(extra)
    return attrs


def delta_texts(events: Iterable[RawMessageStreamEvent]) -> list[str]:
    """The text of every ``text_delta`` in a raw event stream."""
    return [e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"]


def start_id(events: Iterable[Any]) -> str:
    """The message id a raw event stream announced in its ``message_start``."""
    return str(next(e.message.id for e in events if e.type == "message_start"))


def reply_text(message: Any) -> str:
    """The text blocks of a ``Message`` (or beta / parsed twin), joined."""
    return "".join(block.text for block in message.content if block.type == "text")


def error_of(exc: BaseException) -> dict[str, str]:
    """The ``error`` attribute peekr records for ``exc``."""
    return {"type": f"anthropic.{type(exc).__name__}", "message": str(exc)}


def only_span(sink: InMemorySink) -> peekr.Span:
    """Flush and return the single span recorded."""
    peekr.flush()
    spans = sink.spans
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


async def only_span_async(sink: InMemorySink) -> peekr.Span:
    """``only_span`` for async tests (flushes without blocking the event loop)."""
    await peekr.aflush()
    spans = sink.spans
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def check(
    span: peekr.Span,
    expected: dict[str, Any],
    *,
    status: str = "ok",
    parent_id: str | None = None,
    ttft: bool | None = None,
) -> None:
    """Assert the whole span: name, status, parent, every attribute; ttft_ms present iff ``ttft``."""
    assert span.name == "anthropic.messages"
    assert span.status == status
    assert span.parent_id == parent_id
    assert len(span.trace_id) == 32 and len(span.span_id) == 16
    assert span.duration_ms >= 0
    attrs = dict(span.attributes)
    attrs.pop("cost_usd", None)  # filled by the bus from the price table, when it knows the model
    ttft_ms = attrs.pop("ttft_ms", None)
    if ttft is None:
        ttft = bool(expected.get("stream"))
    if ttft:
        assert isinstance(ttft_ms, float) and 0 <= ttft_ms <= span.duration_ms
    else:
        assert ttft_ms is None
    assert attrs == expected
