"""Traces for the MCP tests: a tool-calling agent, a failure, a pii span holding a secret, a huge output,
eval scores and an unpriced model; written through ``peekr.instrument`` and the real sinks."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import peekr
from peekr._events import EvalResult, Feedback
from peekr._runtime import get_runtime
from peekr._span import Span, iso_utc

NOW_NS = time.time_ns()
SECRET = "4111-1111-1111-1111 belongs to Jane Roe"
HUGE = "lorem ipsum " * 20_000  # 240,000 characters


def tid(name: str) -> str:
    return hashlib.md5(f"mcp-trace-{name}".encode()).hexdigest()


def sid(name: str) -> str:
    return hashlib.md5(f"mcp-span-{name}".encode()).hexdigest()[:16]


def span(trace: str, name: str, label: str, start_s: float, ms: float, *, parent: str | None = None,
         status: str = "ok", tenant: str | None = "acme", retention: str = "default", **attrs: Any) -> Span:  # fmt: skip
    start = NOW_NS - int(start_s * 1e9)
    return Span(
        trace_id=tid(trace), span_id=sid(label), parent_id=sid(parent) if parent else None, name=name,
        start_time=iso_utc(start), end_time=iso_utc(start + int(ms * 1e6)), duration_ms=ms,
        status=status, tenant_id=tenant, retention_class=retention, attributes=attrs,  # type: ignore[arg-type]
    )  # fmt: skip


def build(tenant: str | None = "acme", prefix: str = "") -> tuple[list[Span], list[Any]]:
    """Spans, then eval results and feedback."""
    p = prefix
    llm: dict[str, Any] = {"provider": "openai", "tokens_input": 40, "tokens_output": 10, "tokens_total": 50}
    spans = [
        span(f"{p}agent", "handle_chat", f"{p}root", 600, 2400, tenant=tenant, feature="weather", user_id="alice"),
        span(
            f"{p}agent",
            "openai.chat.completions",
            f"{p}llm1",
            599.9,
            800,
            parent=f"{p}root",
            tenant=tenant,
            model="gpt-4o",
            cost_usd=0.0002,
            input=[{"role": "user", "content": "Weather in Paris?"}],
            output={"role": "assistant", "content": "Sunny in Paris, 21C"},
            feature="weather",
            user_id="alice",
            request={"api_key": "sk-live-should-never-show", "temperature": 0},
            experiment="prompt-v2",
            experiment_variant="A",
            **llm,
        ),
        span(f"{p}agent", "get_weather", f"{p}tool", 599, 120, parent=f"{p}root", tenant=tenant, kind="tool"),
        span(
            f"{p}fail",
            "anthropic.messages",
            f"{p}err",
            300,
            90,
            status="error",
            tenant=tenant,
            model="claude-sonnet-4",
            provider="anthropic",
            tokens_input=0,
            tokens_output=0,
            tokens_total=0,
            error={"type": "anthropic.RateLimitError", "message": "rate limit exceeded for org"},
            feature="support",
        ),
        span(
            f"{p}pii",
            "openai.chat.completions",
            f"{p}pii",
            200,
            500,
            tenant=tenant,
            retention="pii",
            model="gpt-4o",
            cost_usd=0.0001,
            input=[{"role": "user", "content": SECRET}],
            output={"role": "assistant", "content": f"Noted: {SECRET}"},
            **llm,
        ),
        span(
            f"{p}huge",
            "openai.chat.completions",
            f"{p}huge",
            100,
            900,
            tenant=tenant,
            model="my-finetune-x",
            input=[{"role": "user", "content": "write a lot"}],
            output={"role": "assistant", "content": HUGE},
            feature="essay",
            experiment="prompt-v2",
            experiment_variant="B",
            **llm,
        ),
    ]
    extra: list[Any] = [
        EvalResult(span_id=sid(f"{p}llm1"), trace_id=tid(f"{p}agent"), evaluator="hallucination",
                   scores={"hallucination": 0.25}, tenant_id=tenant, created_at=iso_utc(NOW_NS)),
        EvalResult(span_id=sid(f"{p}huge"), trace_id=tid(f"{p}huge"), evaluator="hallucination",
                   scores={"hallucination": 0.9}, tenant_id=tenant, created_at=iso_utc(NOW_NS)),
        Feedback(trace_id=tid(f"{p}agent"), rating="bad", note="wrong city", tenant_id=tenant,
                 created_at=iso_utc(NOW_NS)),
    ]  # fmt: skip
    return spans, extra


def write(storage: str, path: Path) -> Path:
    """Write the sample through ``peekr.instrument(storage=...)``, the bus and the real sink."""
    spans, extra = build()
    peekr.instrument(storage=storage, path=path, providers=[])  # type: ignore[arg-type]
    runtime = get_runtime()
    assert runtime is not None
    for event in spans:
        runtime.publish(event)
    assert peekr.flush(10)
    for event in extra:
        runtime.publish(event)
    assert peekr.shutdown(10)
    return path
