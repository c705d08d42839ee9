"""Spans that Peekr's own ``OTLPSink`` exported -> the Peekr records they came from, field for field.

``OTLPSink`` (``peekr/sinks/_otlp_attributes.py``) keeps everything a reader needs: Peekr's name in
``peekr.span.name``, the retention class, the exact duration and every attribute that has no
convention name under ``peekr.<key>``. This module inverts that mapping; attributes the user named
``gen_ai.*`` themselves are found by re-running the sink's mapping on the rebuilt span and keeping
what it does not produce.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._span import Span, iso_utc
from ..sinks._otlp_attributes import describe
from ._otlp_decode import OtelSpan

__all__ = ["EVAL_SPAN", "FEEDBACK_SPAN", "is_peekr_eval", "is_peekr_span", "peekr_eval", "peekr_feedback",
           "peekr_span"]  # fmt: skip

EVAL_SPAN = "gen_ai.evaluation.result"
FEEDBACK_SPAN = "peekr.feedback"
#: ``peekr.*`` attributes that are not ``peekr.<attribute key>``.
_SPECIAL = frozenset(
    (
        "peekr.span.name",
        "peekr.provider",
        "peekr.tokens_total",
        "peekr.ttft_ms",
        "peekr.request",
        "peekr.error",
        "peekr.tool_calls",
        "peekr.hallucination_details",
        "peekr.tenant_id",
        "peekr.retention_class",
        "peekr.duration_ms",
    )
)
_TOKENS = {
    "tokens_input": "gen_ai.usage.input_tokens",
    "tokens_output": "gen_ai.usage.output_tokens",
    "tokens_total": "peekr.tokens_total",
    "tokens_cache_read": "gen_ai.usage.cache_read.input_tokens",
    "tokens_cache_write": "gen_ai.usage.cache_creation.input_tokens",
    "tokens_reasoning": "gen_ai.usage.reasoning.output_tokens",
}
_EVAL_SPECIAL = frozenset(
    ("peekr.evaluator", "peekr.evaluation.status", "peekr.eval_error", "peekr.tenant_id", "peekr.retention_class")
)


def is_peekr_span(span: OtelSpan) -> bool:
    """Exported by ``OTLPSink`` (every span it maps carries ``peekr.retention_class``)."""
    return "peekr.retention_class" in span.attributes


def is_peekr_eval(span: OtelSpan) -> bool:
    """A zero-length span ``OTLPSink`` made to carry one score of an evaluation result."""
    return span.name == EVAL_SPAN and "peekr.evaluator" in span.attributes


def loads_if_json(value: Any) -> Any:
    """A string holding a JSON object or array -> that value; anything else as it is."""
    if isinstance(value, str) and value[:1] in ("{", "[") and value[-1:] in ("}", "]"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def peekr_span(span: OtelSpan) -> dict[str, Any]:
    """The wire record of a span ``OTLPSink`` exported."""
    a = span.attributes
    out: dict[str, Any] = {}
    if "gen_ai.request.model" in a:
        out["model"] = a["gen_ai.request.model"]
    provider = a.get("peekr.provider", a.get("gen_ai.provider.name"))
    if provider is not None:
        out["provider"] = provider
    for key, name in _TOKENS.items():
        if name in a:
            out[key] = a[name]
    reasons = a.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons:
        out["finish_reason"] = reasons[0]
    for key, name in (("response_id", "gen_ai.response.id"), ("session_id", "gen_ai.conversation.id"),
                      ("user_id", "user.id"), ("ttft_ms", "peekr.ttft_ms")):  # fmt: skip
        if name in a:
            out[key] = a[name]
    for key in ("request", "error", "tool_calls", "hallucination_details"):
        if f"peekr.{key}" in a:
            out[key] = _json(a[f"peekr.{key}"])
    if "error" not in out and a.get("error.type") not in (None, "_OTHER"):
        out["error"] = {"type": a["error.type"]}  # a pii span: the type only
    request = out.get("request")
    stream = a.get("gen_ai.request.stream")
    # Both ``stream`` and ``request.stream`` export as gen_ai.request.stream; integrations set
    # ``stream`` only when it is true (and then ``request.stream`` too).
    if isinstance(stream, bool) and (stream or not (isinstance(request, Mapping) and "stream" in request)):
        out["stream"] = stream
    for key, value_key, mime_key in (("input", "input.value", "input.mime_type"),
                                     ("output", "output.value", "output.mime_type")):  # fmt: skip
        if value_key in a:
            value = a[value_key]
            out[key] = _json(value) if a.get(mime_key) == "application/json" else value
    for name, value in a.items():
        if name.startswith("peekr.") and name not in _SPECIAL:
            out[name[len("peekr.") :]] = loads_if_json(value)
    record = {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id or None,
        "name": a.get("peekr.span.name", span.name),
        "start_time": iso_utc(span.start_ns),
        "end_time": iso_utc(span.end_ns),
        "duration_ms": a.get("peekr.duration_ms", max(0, span.end_ns - span.start_ns) / 1e6),
        "status": "error" if span.status_code == 2 else "ok",
        "retention_class": a.get("peekr.retention_class", "default"),
        "attributes": out,
    }
    _user_genai(record, a)
    return record


def _user_genai(record: dict[str, Any], incoming: Mapping[str, Any]) -> None:
    """Add the ``gen_ai.*`` attributes the sink did not derive from the rebuilt span (the user's own)."""
    candidates = {k: v for k, v in incoming.items() if k.startswith("gen_ai.")}
    if not candidates:
        return
    try:
        derived = describe(Span.model_construct(**record), content=True).attributes
    except Exception:  # a record validation will reject anyway
        return
    for name, value in candidates.items():
        if derived.get(name, _MISSING) != value:
            record["attributes"][name] = loads_if_json(value)


_MISSING = object()


def peekr_eval(carriers: list[OtelSpan]) -> dict[str, Any]:
    """One evaluation result from the carrier spans of its scores (same parent, evaluator and time)."""
    first = carriers[0].attributes
    scores: dict[str, Any] = {}
    for carrier in carriers:
        name = carrier.attributes.get("gen_ai.evaluation.name")
        if isinstance(name, str) and "error.type" not in carrier.attributes:
            scores[name] = carrier.attributes.get("gen_ai.evaluation.score.value")
    attributes = {
        name[len("peekr.") :]: _json(value)
        for name, value in first.items()
        if name.startswith("peekr.") and name not in _EVAL_SPECIAL
    }
    return {
        "record": "eval",
        "span_id": carriers[0].parent_id,
        "trace_id": carriers[0].trace_id,
        "evaluator": first.get("peekr.evaluator"),
        "status": first.get("peekr.evaluation.status", "ok"),
        "scores": scores,
        "attributes": attributes,
        "error": first.get("peekr.eval_error"),
        "created_at": iso_utc(carriers[0].start_ns),
    }


def peekr_feedback(span: OtelSpan) -> dict[str, Any]:
    """The feedback record a ``peekr.feedback`` span carries."""
    a = span.attributes
    return {
        "record": "feedback",
        "trace_id": span.trace_id,
        "span_id": span.parent_id or None,
        "rating": a.get("peekr.rating"),
        "score": a.get("peekr.score"),
        "note": a.get("peekr.note"),
        "created_at": iso_utc(span.start_ns),
    }
