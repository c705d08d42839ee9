"""Requests and expected spans for the fake provider's deterministic Bedrock replies.

The fake's token rule: a token is a whitespace-separated word; the reply is ``"Echo: "`` + the last
user text (docs/fake-provider.md). So "Hello there" -> "Echo: Hello there": 2 input, 3 output
tokens; the system prompt "Be brief." adds 2 input tokens. A ``midstream-error`` model sends two
content deltas, then a ``modelStreamErrorException`` frame.
"""

from __future__ import annotations

import json
from typing import Any

import peekr
from peekr.sinks.memory import InMemorySink

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Hello there"}]}]
SYSTEM = [{"text": "Be brief."}]
INFERENCE = {"maxTokens": 50, "temperature": 0.5, "topP": 0.9, "stopSequences": ["\n\n"]}
REQUEST = {"max_tokens": 50, "temperature": 0.5, "top_p": 0.9, "stop_sequences": ["\n\n"]}
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "lookup",
                "inputSchema": {"json": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}},
            }
        }
    ],
    "toolChoice": {"auto": {}},
}
TOOL_CALL = {
    "id": "tooluse_fake_0",
    "type": "function",
    "name": "lookup",
    "arguments": json.dumps({"q": "Hello there"}),
}
CLAUDE_TOOLS = [
    {"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}
]


def claude_body(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    """An Anthropic messages body for invoke_model (as a dict; send ``json.dumps`` of it)."""
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def tokens(tokens_input: int, tokens_output: int) -> dict[str, int]:
    """The token attributes for reported input/output counts (no cache use)."""
    return {"tokens_input": tokens_input, "tokens_output": tokens_output, "tokens_total": tokens_input + tokens_output}


def claude_tokens(tokens_input: int, tokens_output: int) -> dict[str, int]:
    """Token attributes of an ``invoke_model`` answered by Claude: its usage always reports the
    cache counts (0 here), so they are recorded too."""
    return {**tokens(tokens_input, tokens_output), "tokens_cache_read": 0, "tokens_cache_write": 0}


def error_of(exc: BaseException) -> dict[str, str]:
    """The ``error`` attribute peekr records for a botocore exception."""
    return {"type": f"botocore.{type(exc).__name__}", "message": str(exc)}


def spans(sink: InMemorySink) -> list[peekr.Span]:
    """Flush and return every span recorded."""
    peekr.flush()
    return sink.spans


def only_span(sink: InMemorySink) -> peekr.Span:
    """Flush and return the single span recorded."""
    recorded = spans(sink)
    assert len(recorded) == 1, [s.name for s in recorded]
    return recorded[0]


async def only_span_async(sink: InMemorySink) -> peekr.Span:
    """``only_span`` for async tests (flushes without blocking the event loop)."""
    await peekr.aflush()
    recorded = sink.spans
    assert len(recorded) == 1, [s.name for s in recorded]
    return recorded[0]


def check(
    span: peekr.Span,
    name: str,
    attributes: dict[str, Any],
    *,
    status: str = "ok",
    parent_id: str | None = None,
    ttft: bool = False,
) -> None:
    """Assert the whole span: name, status, parent and every attribute (``ttft_ms`` apart).

    ``cost_usd`` is the bus's business (computed from model and tokens when the price is known):
    only its type is checked here."""
    attrs = dict(span.attributes)
    ttft_ms = attrs.pop("ttft_ms", None)
    cost = attrs.pop("cost_usd", None)
    assert cost is None or (isinstance(cost, float) and cost > 0 and "tokens_input" in attrs)
    assert (span.name, span.status, span.parent_id) == (name, status, parent_id)
    assert attrs == attributes
    if ttft:
        assert isinstance(ttft_ms, float) and 0 <= ttft_ms <= span.duration_ms
    else:
        assert ttft_ms is None
    assert span.duration_ms >= 0 and span.end_time >= span.start_time


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    """A response without ``ResponseMetadata`` (request ids and dates differ between calls)."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}
