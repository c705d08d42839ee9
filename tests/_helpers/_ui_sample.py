"""Traces for the web UI tests: an agent with a tool round trip and judged claims, an error, a session,
an output that tries to inject HTML, and one trace of another tenant."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from peekr._events import EvalResult
from peekr._span import Span, iso_utc

XSS = '</script><img src=x onerror="window.__xss=1"><b>bold</b>'


def tid(name: str) -> str:
    return hashlib.md5(f"trace-{name}".encode()).hexdigest()


def sid(name: str) -> str:
    return hashlib.md5(f"span-{name}".encode()).hexdigest()[:16]


@dataclass
class UISample:
    spans: list[Span] = field(default_factory=list)
    evals: list[EvalResult] = field(default_factory=list)


def _span(trace: str, span: str, name: str, start_ns: int, ms: float, *, parent: str | None = None,
          status: str = "ok", tenant: str | None = None, **attrs: Any) -> Span:  # fmt: skip
    return Span(
        trace_id=trace, span_id=span, parent_id=parent, name=name, start_time=iso_utc(start_ns),
        end_time=iso_utc(start_ns + int(ms * 1e6)), duration_ms=ms, status=status,  # type: ignore[arg-type]
        tenant_id=tenant, attributes=attrs,  # type: ignore[arg-type]
    )  # fmt: skip


def build(tenant: str | None = "acme", *, prefix: str = "", now_ns: int | None = None) -> UISample:
    """The main tenant's traces (trace ids depend on ``prefix`` so tenants do not share ids)."""
    s = UISample()
    t0 = (now_ns or time.time_ns()) - 20 * 60 * 10**9
    common = {"session_id": f"{prefix}sess-1", "user_id": "alice", "feature": "weather", "endpoint": "/chat",
              "experiment_variant": "A"}  # fmt: skip
    # 1. Agent: root, LLM call with a tool call, the tool, the final answer with judged claims.
    t = tid(prefix + "agent")
    root = sid(prefix + "agent-root")
    s.spans.append(_span(t, root, "handle_chat", t0, 2400.0, tenant=tenant, **common))
    msgs = [{"role": "system", "content": "You are a weather bot."}, {"role": "user", "content": "Weather in Paris?"}]
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    s.spans.append(_span(t, sid(prefix + "agent-1"), "openai.chat.completions", t0 + 10**8, 800.0, parent=root,
                         tenant=tenant, provider="openai", model="gpt-4o", tokens_input=40, tokens_output=12,
                         tokens_total=52, cost_usd=0.00022, input=msgs,
                         output={"role": "assistant", "content": None, "tool_calls": [call]}, tool_calls=[call],
                         finish_reason="tool_calls", **common))  # fmt: skip
    s.spans.append(_span(t, sid(prefix + "agent-tool"), "get_weather", t0 + 95 * 10**7, 120.0, parent=root,
                         tenant=tenant, **common))  # fmt: skip
    msgs2 = [*msgs, {"role": "assistant", "content": None, "tool_calls": [call]},
             {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21, "sky": "sunny"}'}]  # fmt: skip
    answer = "It is 21°C and sunny in Paris. The Eiffel Tower is closed today."
    s.spans.append(_span(t, sid(prefix + "agent-2"), "openai.chat.completions", t0 + 11 * 10**8, 1200.0,
                         parent=root, tenant=tenant, provider="openai", model="gpt-4o", tokens_input=80,
                         tokens_output=20, tokens_total=100, cost_usd=0.0004, input=msgs2,
                         output={"role": "assistant", "content": answer}, finish_reason="stop", **common))  # fmt: skip
    s.evals.append(EvalResult(
        span_id=sid(prefix + "agent-2"), trace_id=t, evaluator="hallucination", scores={"hallucination": 0.5},
        attributes={"hallucination_details": [
            {"claim": "It is 21°C", "verdict": "supported", "reason": "The tool returned 21.",
             "evidence": '{"temp_c": 21'},
            {"claim": "sunny in Paris", "verdict": "contradicted", "reason": "The tool said the sky is cloudy.",
             "evidence": '"sky": "cloudy"', "chunks": [2], "cause": "generation"},
            {"claim": "The Eiffel Tower is closed today", "verdict": "unsupported",
             "reason": "Nothing in the context mentions the Eiffel Tower.", "evidence": "",
             "chunks": [], "cause": "retrieval_gap"},
        ]},
        created_at=iso_utc(t0 + 3 * 10**9),
    ))  # fmt: skip
    # 2. An Anthropic call whose output tries to inject HTML, second turn of the session.
    t2 = tid(prefix + "xss")
    s.spans.append(_span(t2, sid(prefix + "xss"), "anthropic.messages", t0 + 5 * 60 * 10**9, 950.0, tenant=tenant,
                         provider="anthropic", model="claude-sonnet-4", tokens_input=300, tokens_output=30,
                         tokens_total=330, cost_usd=0.00135,
                         input={"system": "Be brief.", "messages": [{"role": "user", "content": "Say something odd"}]},
                         output=[{"type": "text", "text": XSS}], finish_reason="end_turn",
                         **{**common, "feature": "chitchat"}))  # fmt: skip
    s.evals.append(
        EvalResult(
            span_id=sid(prefix + "xss"),
            trace_id=t2,
            evaluator="hallucination",
            scores={"hallucination": 0.95},
            attributes={"hallucination_details": []},
            created_at=iso_utc(t0 + 6 * 60 * 10**9),
        )
    )
    # 3. A failed call (another user, model and endpoint).
    t3 = tid(prefix + "error")
    s.spans.append(_span(t3, sid(prefix + "error"), "openai.chat.completions", t0 + 8 * 60 * 10**9, 30000.0,
                         status="error", tenant=tenant, provider="openai", model="gpt-4o-mini",
                         input=[{"role": "user", "content": "Summarise the report"}],
                         error={"type": "RateLimitError", "message": "Rate limit reached for gpt-4o-mini"}, user_id="bob",
                         feature="summary", endpoint="/summarise"))  # fmt: skip
    # 4. More traffic over the last hours, for trends and paging.
    for i in range(12):
        ti = tid(f"{prefix}bulk-{i}")
        start = t0 - (i + 1) * 9 * 60 * 10**9
        model = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4")[i % 3]
        s.spans.append(_span(ti, sid(f"{prefix}bulk-{i}"), "openai.chat.completions" if i % 3 < 2 else "anthropic.messages",
                             start, 300.0 + 97 * i, tenant=tenant, provider="openai" if i % 3 < 2 else "anthropic",
                             model=model, tokens_input=100 + i, tokens_output=20 + i, tokens_total=120 + 2 * i,
                             cost_usd=0.0001 * (i + 1), input=[{"role": "user", "content": f"Question {i}"}],
                             output={"role": "assistant", "content": f"Answer {i}"}, user_id="carol",
                             feature="faq", endpoint="/faq"))  # fmt: skip
        s.evals.append(EvalResult(span_id=sid(f"{prefix}bulk-{i}"), trace_id=ti, evaluator="hallucination",
                                  scores={"hallucination": round(0.05 + i * 0.08, 2)},
                                  attributes={"hallucination_details": [
                                      {"claim": f"Answer {i}", "verdict": "supported" if i > 6 else "unsupported",
                                       "reason": "judge", "evidence": ""}]},
                                  created_at=iso_utc(start + 10**9)))  # fmt: skip
    return s


def build_other(tenant: str = "globex") -> UISample:
    """The second tenant: one trace whose names must never show up for the first."""
    s = UISample()
    t = tid("globex-secret")
    s.spans.append(_span(t, sid("globex-secret"), "globex.secret_pipeline", time.time_ns() - 5 * 60 * 10**9, 500.0,
                         tenant=tenant, provider="openai", model="globex-model-x", user_id="globex-user",
                         input=[{"role": "user", "content": "GLOBEX-CONFIDENTIAL question"}],
                         output={"role": "assistant", "content": "GLOBEX-CONFIDENTIAL answer"},
                         tokens_total=10, cost_usd=0.5))  # fmt: skip
    return s
