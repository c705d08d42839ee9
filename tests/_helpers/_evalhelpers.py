"""Helpers for the evaluator tests (spans as integrations publish them, polling)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import peekr
from peekr._span import Span, iso_utc, new_span_id, new_trace_id

CONTEXT = "Paris is the capital of France. The Eiffel Tower is 330 metres tall."
RESPONSE = "Hello! Paris is the capital of France. The Eiffel Tower is 500 metres tall. It opened in 1889."


def make_span(
    output: Any = RESPONSE,
    context: Any = CONTEXT,
    *,
    name: str = "openai.chat.completions",
    provider: str | None = "openai",
    status: str = "ok",
    **attributes: Any,
) -> Span:
    """A finished LLM span, as an integration would publish it."""
    now = time.time_ns()
    attrs: dict[str, Any] = {"model": "gpt-4o", "input": {"context": context}, "output": output, **attributes}
    if provider is not None:
        attrs["provider"] = provider
    return Span(
        trace_id=new_trace_id(),
        span_id=new_span_id(),
        name=name,
        start_time=iso_utc(now),
        end_time=iso_utc(now),
        duration_ms=1.0,
        status=status,  # type: ignore[arg-type]
        attributes=attrs,  # type: ignore[arg-type]
    )


def record_llm_span(output: str = RESPONSE, context: str = CONTEXT, **attributes: Any) -> str:
    """Record an LLM span through peekr's public span API; returns its span_id."""
    with peekr.span(
        "openai.chat.completions",
        provider="openai",
        model="gpt-4o",
        input={"context": context},
        output=output,
        **attributes,
    ) as span:
        return str(span.span_id)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Flush peekr and poll until ``predicate()`` holds (evaluation results arrive after their span)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        peekr.flush(timeout=max(0.1, deadline - time.monotonic()))
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
