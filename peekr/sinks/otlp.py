"""``OTLPSink``: ship spans to any OpenTelemetry collector (OTLP over HTTP/protobuf).

Peekr ids are W3C trace-context ids, so each span maps one-to-one onto an OTel span. Attributes
follow the OpenTelemetry GenAI semantic conventions where one exists (``gen_ai.provider.name``,
``gen_ai.request.model``, ``gen_ai.usage.input_tokens``...); everything else is kept under
``peekr.<key>`` (structured values as JSON strings). Evaluation results become child spans named
``peekr.evaluation`` (OTel spans are immutable once exported); feedback becomes a
``peekr.feedback`` span in its trace.

Needs the ``otlp`` extra: ``pip install 'peekr[otlp]'``.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio.to_thread

from .._codec import dumps, repair_span
from .._context import suppress_instrumentation
from .._events import EvalResult, Event, Feedback
from .._span import Span, new_span_id

__all__ = ["OTLPSink", "to_otel_attributes"]

_GENAI_KEYS = {
    "provider": "gen_ai.provider.name",
    "tokens_input": "gen_ai.usage.input_tokens",
    "tokens_output": "gen_ai.usage.output_tokens",
    "finish_reason": "gen_ai.response.finish_reasons",
    "session_id": "session.id",
    "user_id": "user.id",
}


def _ns(iso: str) -> int:
    """``2026-11-27T09:21:10.123456Z`` -> nanoseconds since the epoch."""
    seconds, _, fraction = iso.rstrip("Z").partition(".")
    whole = calendar.timegm(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S"))
    return whole * 1_000_000_000 + int((fraction or "0").ljust(9, "0")[:9])


def _value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return dumps(value).decode()


def to_otel_attributes(span: Span) -> dict[str, Any]:
    """Map a peekr span's fields and attributes onto OTel attribute names."""
    out: dict[str, Any] = {}
    attributes: Mapping[str, Any] = span.attributes
    for key, value in attributes.items():
        if value is None:
            continue
        if key == "model":
            out["gen_ai.request.model"] = out["gen_ai.response.model"] = str(value)
        elif key == "finish_reason":
            out["gen_ai.response.finish_reasons"] = [str(value)]
        elif key in _GENAI_KEYS:
            out[_GENAI_KEYS[key]] = _value(value)
        else:
            out[f"peekr.{key}"] = _value(value)
    if span.tenant_id is not None:
        out["peekr.tenant_id"] = span.tenant_id
    out["peekr.retention_class"] = span.retention_class
    return out


class OTLPSink:
    """Export spans to an OTLP/HTTP endpoint (e.g. an OpenTelemetry Collector, Jaeger, Tempo).

    Example:
        >>> peekr.instrument(sinks=[peekr.sinks.otlp.OTLPSink("http://localhost:4318/v1/traces")])

    Args:
        endpoint: The OTLP traces URL (``.../v1/traces``).
        headers: Extra request headers (e.g. an auth token).
        service_name: The ``service.name`` resource attribute.
        timeout: Seconds per export request.
    """

    name = "otlp"

    def __init__(
        self,
        endpoint: str = "http://localhost:4318/v1/traces",
        *,
        headers: Mapping[str, str] | None = None,
        service_name: str = "peekr",
        timeout: float = 10.0,
    ) -> None:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"OTLPSink(endpoint=...) must be an http(s) URL, got {endpoint!r}")
        if timeout <= 0:
            raise ValueError(f"OTLPSink(timeout=...) must be positive, got {timeout!r}")
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
        except ImportError as exc:
            raise ModuleNotFoundError("OTLPSink needs the otlp extra: pip install 'peekr[otlp]'") from exc
        self._exporter = OTLPSpanExporter(endpoint=endpoint, headers=dict(headers or {}), timeout=timeout)
        self._resource = Resource.create({"service.name": service_name})
        self.failed_batches = 0

    def _readable(self, span: Span) -> Any:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        context = SpanContext(int(span.trace_id, 16), int(span.span_id, 16), False, TraceFlags(TraceFlags.SAMPLED))
        parent = (
            SpanContext(int(span.trace_id, 16), int(span.parent_id, 16), False, TraceFlags(TraceFlags.SAMPLED))
            if span.parent_id
            else None
        )
        error = span.attributes.get("error") if span.status == "error" else None
        status = (
            Status(StatusCode.ERROR, str(error.get("message", "")) if isinstance(error, dict) else None)
            if span.status == "error"
            else Status(StatusCode.OK)
        )
        return ReadableSpan(
            name=span.name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=to_otel_attributes(span),
            kind=SpanKind.CLIENT if "provider" in span.attributes else SpanKind.INTERNAL,
            status=status,
            start_time=_ns(span.start_time),
            end_time=_ns(span.end_time),
        )

    @staticmethod
    def _as_span(event: EvalResult | Feedback) -> Span:
        if isinstance(event, EvalResult):
            attributes: dict[str, Any] = {"evaluator": event.evaluator, "status": event.status, **event.attributes}
            attributes.update({f"score.{k}": v for k, v in event.scores.items()})
            if event.error:
                attributes["eval_error"] = event.error
            name: str = "peekr.evaluation"
            parent: str | None = event.span_id
        else:
            attributes = {"rating": event.rating, "score": event.score, "note": event.note}
            name, parent = "peekr.feedback", event.span_id
        return Span.model_construct(
            trace_id=event.trace_id,
            span_id=new_span_id(),
            parent_id=parent,
            name=name,
            start_time=event.created_at,
            end_time=event.created_at,
            duration_ms=0.0,
            status="ok",
            tenant_id=event.tenant_id,
            retention_class="default",
            attributes=attributes,
        )

    def _readable_safe(self, span: Span) -> Any:
        try:
            return self._readable(span)
        except Exception:  # a value JSON cannot hold: replace just that value (counted), keep the span
            repair_span(span)
            return self._readable(span)

    def _export(self, batch: Sequence[Event]) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        spans = [event if isinstance(event, Span) else self._as_span(event) for event in batch]
        with suppress_instrumentation():
            result = self._exporter.export([self._readable_safe(span) for span in spans])
        if result is not SpanExportResult.SUCCESS:
            self.failed_batches += 1
            raise ConnectionError(f"OTLP export of {len(spans)} spans failed")

    async def write(self, batch: Sequence[Event]) -> None:
        """Export a batch (in a worker thread: the OTLP exporter does blocking HTTP)."""
        await anyio.to_thread.run_sync(self._export, batch)

    async def flush(self, timeout: float | None = None) -> None:
        """Every ``write`` is sent before it returns."""

    async def aclose(self) -> None:
        """Shut the exporter down."""
        await anyio.to_thread.run_sync(self._exporter.shutdown)
