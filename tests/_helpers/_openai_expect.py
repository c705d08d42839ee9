"""Assertions shared by the OpenAI integration tests (imported by module name: tests/_helpers is on
pytest's pythonpath)."""

from __future__ import annotations

from typing import Any

import peekr
from peekr import Span
from peekr.sinks.memory import InMemorySink

HELLO: list[Any] = [{"role": "user", "content": "Hello there"}]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]
#: The fake's usage for HELLO -> "Echo: Hello there" (a token is a word; detail counts are zero).
USAGE = {
    "tokens_input": 2,
    "tokens_output": 3,
    "tokens_total": 5,
    "tokens_cache_read": 0,
    "tokens_cache_write": 0,
    "tokens_reasoning": 0,
}


def spans(sink: InMemorySink) -> list[Span]:
    """Everything recorded so far (flushes the bus first)."""
    assert peekr.flush(5)
    return sink.spans


def only_span(sink: InMemorySink) -> Span:
    """The one span recorded so far."""
    recorded = spans(sink)
    assert len(recorded) == 1, [s.name for s in recorded]
    return recorded[0]


def assert_span(
    span: Span,
    name: str,
    attributes: dict[str, Any],
    *,
    status: str = "ok",
    parent: Any = None,
    stream: bool = False,
) -> None:
    """The whole span: name, status, parent and every attribute (``ttft_ms`` and ``cost_usd``,
    which depend on time and prices, are checked for presence/type only)."""
    assert span.name == name
    assert span.status == status
    got = dict(span.attributes)
    ttft = got.pop("ttft_ms", None)
    got.pop("cost_usd", None)
    if stream:
        assert isinstance(ttft, float) and ttft >= 0
    else:
        assert ttft is None
    assert got == attributes
    if parent is not None:
        assert span.parent_id == parent.span_id
        assert span.trace_id == parent.trace_id
    assert span.end_time >= span.start_time
    assert span.duration_ms >= 0


#: openai's ``AsyncStream`` stops iterating its own ``_iter_events`` / ``SSEDecoder.aiter_bytes`` /
#: ``httpx2.Response.aiter_bytes`` generators at ``data: [DONE]`` without closing them; trio reports
#: each one it collects with a ResourceWarning. Uninstrumented code gets it too (checked); which of
#: the SDK's generators gets reported depends on collection order.
SDK_ASYNCGEN_WARNING = r"ignore:Async generator '(openai|httpx2)\..*' was garbage collected:ResourceWarning"
