"""Sample traces for the CLI tests: one of each provider, tool calls, errors, evals and feedback.

Times are relative to "now" so ``--since`` filters and ``peekr prune`` behave like on real data.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from peekr._events import EvalResult, Feedback
from peekr._span import Span, iso_utc

NOW_NS = time.time_ns()
HOUR_NS = 3600 * 10**9


def tid(n: int) -> str:
    return hashlib.md5(f"trace-{n}".encode()).hexdigest()


def sid(n: int) -> str:
    return hashlib.md5(f"span-{n}".encode()).hexdigest()[:16]


@dataclass
class Sample:
    """Events to write, plus the ids the tests assert on."""

    spans: list[Span] = field(default_factory=list)
    evals: list[EvalResult] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def events(self) -> list[Any]:
        return [*self.spans, *self.evals, *self.feedback]


def _span(
    trace: str,
    span: str,
    name: str,
    start_ns: int,
    ms: float,
    *,
    parent: str | None = None,
    status: str = "ok",
    tenant: str | None = "acme",
    retention: str = "default",
    **attrs: Any,
) -> Span:
    return Span(
        trace_id=trace,
        span_id=span,
        parent_id=parent,
        name=name,
        start_time=iso_utc(start_ns),
        end_time=iso_utc(start_ns + int(ms * 1e6)),
        duration_ms=ms,
        status=status,  # type: ignore[arg-type]
        tenant_id=tenant,
        retention_class=retention,  # type: ignore[arg-type]
        attributes=attrs,  # type: ignore[arg-type]
    )


WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


def build() -> Sample:
    s = Sample()
    t0 = NOW_NS - 10 * 60 * 10**9  # ten minutes ago

    # Trace 1 (OpenAI agent with a tool round trip), rated good.
    t1, root1 = tid(1), sid(1)
    s.ids.update(openai_trace=t1, openai_root=root1)
    common = {
        "session_id": "sess-1",
        "user_id": "alice",
        "feature": "weather",
        "endpoint": "/chat",
        "experiment_variant": "A",
    }
    s.spans.append(_span(t1, root1, "handle_chat", t0, 2400.0, **common))
    msgs = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    s.spans.append(
        _span(
            t1,
            sid(2),
            "openai.chat.completions",
            t0 + 10**8,
            800.0,
            parent=root1,
            provider="openai",
            model="gpt-4o",
            tokens_input=40,
            tokens_output=12,
            tokens_total=52,
            cost_usd=0.00022,
            input=msgs,
            output={"role": "assistant", "content": None, "tool_calls": [call]},
            tool_calls=[call],
            finish_reason="tool_calls",
            request={"tools": [WEATHER_TOOL], "temperature": 0},
            **common,
        )
    )
    s.spans.append(_span(t1, sid(3), "get_weather", t0 + 95 * 10**7, 120.0, parent=root1, **common))
    msgs2 = [
        *msgs,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
    ]
    s.spans.append(
        _span(
            t1,
            sid(4),
            "openai.chat.completions",
            t0 + 11 * 10**8,
            1200.0,
            parent=root1,
            provider="openai",
            model="gpt-4o",
            tokens_input=80,
            tokens_output=20,
            tokens_total=100,
            cost_usd=0.0004,
            input=msgs2,
            output={"role": "assistant", "content": "It is 21°C and sunny in Paris."},
            finish_reason="stop",
            request={"tools": [WEATHER_TOOL]},
            **common,
        )
    )
    s.evals.append(
        EvalResult(
            span_id=sid(4),
            trace_id=t1,
            evaluator="hallucination",
            scores={"hallucination": 0.9},
            attributes={"hallucination_details": [{"claim": "21°C", "verdict": "supported", "reason": "tool"}]},
            created_at=iso_utc(t0 + 3 * 10**9),
        )
    )
    s.feedback.append(Feedback(trace_id=t1, rating="bad", note="first try", created_at=iso_utc(t0 + 4 * 10**9)))
    s.feedback.append(Feedback(trace_id=t1, rating="good", note="correct", created_at=iso_utc(t0 + 5 * 10**9)))

    # Trace 2: Anthropic with system prompt and a tool round trip; rated good; tenant globex; user bob.
    t2 = tid(2)
    s.ids.update(anthropic_trace=t2)
    a_in = {
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Weather in Rome?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "25C"}]},
        ],
    }
    s.spans.append(
        _span(
            t2,
            sid(10),
            "anthropic.messages",
            t0 + 60 * 10**9,
            950.0,
            tenant="globex",
            provider="anthropic",
            model="claude-sonnet-4-20250514",
            tokens_input=300,
            tokens_output=30,
            tokens_total=330,
            tokens_cache_read=200,
            cost_usd=0.00135,
            input=a_in,
            output=[{"type": "text", "text": "25°C in Rome."}],
            finish_reason="end_turn",
            user_id="bob",
            session_id="sess-2",
            feature="weather",
            endpoint="/chat",
            experiment_variant="B",
            request={"tools": [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]},
        )
    )
    s.evals.append(
        EvalResult(
            span_id=sid(10),
            trace_id=t2,
            evaluator="hallucination",
            scores={"hallucination": 0.2},
            created_at=iso_utc(t0 + 62 * 10**9),
        )
    )
    s.feedback.append(Feedback(trace_id=t2, rating="good", created_at=iso_utc(t0 + 63 * 10**9)))

    # Trace 3: Gemini with a function call round trip; rated good.
    t3 = tid(3)
    s.ids.update(gemini_trace=t3)
    g_in = {
        "system_instruction": "Answer in one line.",
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
            {"role": "model", "parts": [{"function_call": {"name": "get_weather", "args": {"city": "Oslo"}}}]},
            {"role": "user", "parts": [{"function_response": {"name": "get_weather", "response": {"temp_c": 3}}}]},
        ],
    }
    s.spans.append(
        _span(
            t3,
            sid(20),
            "gemini.generate_content",
            t0 + 120 * 10**9,
            640.0,
            provider="gemini",
            model="gemini-2.5-flash",
            tokens_input=50,
            tokens_output=10,
            tokens_total=60,
            cost_usd=0.000040,
            input=g_in,
            output={"role": "model", "parts": [{"text": "3°C in Oslo."}]},
            finish_reason="STOP",
            feature="weather",
            endpoint="/chat",
        )
    )
    s.feedback.append(Feedback(trace_id=t3, rating="good", created_at=iso_utc(t0 + 121 * 10**9)))

    # Trace 4: Bedrock converse with tool use; rated good; plus an embeddings call that cannot be exported.
    t4 = tid(4)
    s.ids.update(bedrock_trace=t4)
    b_in = {
        "system": [{"text": "You are terse."}],
        "messages": [
            {"role": "user", "content": [{"text": "Weather in Lima?"}]},
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "tu_1", "name": "get_weather", "input": {"city": "Lima"}}}],
            },
            {"role": "user", "content": [{"toolResult": {"toolUseId": "tu_1", "content": [{"json": {"temp_c": 18}}]}}]},
        ],
    }
    s.spans.append(
        _span(
            t4,
            sid(30),
            "bedrock.converse",
            t0 + 180 * 10**9,
            700.0,
            provider="bedrock",
            model="anthropic.claude-3-haiku-20240307-v1:0",
            tokens_input=70,
            tokens_output=9,
            tokens_total=79,
            cost_usd=0.00003,
            input=b_in,
            output={"role": "assistant", "content": [{"text": "18°C in Lima."}]},
            finish_reason="end_turn",
            feature="search",
            endpoint="/search",
        )
    )
    s.spans.append(
        _span(
            t4,
            sid(31),
            "openai.embeddings",
            t0 + 181 * 10**9,
            50.0,
            provider="openai",
            model="text-embedding-3-small",
            tokens_input=8,
            tokens_total=8,
            input="Lima",
            feature="search",
            endpoint="/search",
        )
    )
    s.feedback.append(Feedback(trace_id=t4, rating="good", created_at=iso_utc(t0 + 182 * 10**9)))

    # Trace 5: a failed OpenAI call, rated bad, retention short, three hours ago.
    t5 = tid(5)
    s.ids.update(error_trace=t5)
    s.spans.append(
        _span(
            t5,
            sid(40),
            "openai.chat.completions",
            NOW_NS - 3 * HOUR_NS,
            5100.0,
            status="error",
            provider="openai",
            model="gpt-4o-mini",
            input=[{"role": "user", "content": "x" * 2000}],
            retention="short",
            error={"type": "openai.RateLimitError", "message": "Rate limit reached"},
            user_id="carol",
            feature="weather",
            endpoint="/chat",
        )
    )
    s.feedback.append(Feedback(trace_id=t5, rating="bad", note="failed", created_at=iso_utc(NOW_NS - 3 * HOUR_NS)))

    # Trace 6: old spans for prune: 10 days old (short -> pruned, default -> kept), 2 days old pii -> pruned.
    t6 = tid(6)
    s.ids.update(old_trace=t6)
    s.spans.append(_span(t6, sid(50), "old.short", NOW_NS - 240 * HOUR_NS, 5.0, retention="short"))
    s.spans.append(_span(t6, sid(51), "old.default", NOW_NS - 240 * HOUR_NS, 5.0, retention="default"))
    t7 = tid(7)
    s.ids.update(pii_trace=t7)
    s.spans.append(_span(t7, sid(60), "old.pii", NOW_NS - 48 * HOUR_NS, 5.0, retention="pii"))
    s.feedback.append(Feedback(trace_id=t7, rating="good", created_at=iso_utc(NOW_NS - 47 * HOUR_NS)))
    return s


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse JSON Lines output."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
