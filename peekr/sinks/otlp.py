"""``OTLPSink``: ship spans to any OpenTelemetry collector (OTLP over HTTP/protobuf).

Peekr ids are W3C trace-context ids, so each span maps one-to-one onto an OTel span. Spans follow
the OpenTelemetry GenAI semantic conventions (``_otlp_attributes``; the full table is in
docs/otlp.md): provider calls are CLIENT spans named ``{gen_ai.operation.name} {model}`` with
``gen_ai.*`` attributes, Peekr's own name kept in ``peekr.span.name``. Evaluation results become
``gen_ai.evaluation.result`` events parented to the evaluated span (``evaluations=``: a
zero-length child span carrying the event, an OTLP log event, or both); feedback becomes a
``peekr.feedback`` span in its trace.

Needs the ``otlp`` extra: ``pip install 'peekr-sdk[otlp]'``.
"""

from __future__ import annotations

import calendar
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from .._codec import repair_span
from .._context import suppress_instrumentation
from .._events import EvalResult, Event, Feedback
from .._runtime import record_dropped
from .._span import Span, new_span_id
from .._threads import run_sync
from ..bus import BusHandle
from ._otlp_attributes import OtelSpanShape, describe, to_otel_attributes
from ._otlp_eval import EVENT_NAME, evaluation_attributes

__all__ = ["OTLPSink", "to_otel_attributes"]

#: How many ``pii`` span ids the sink remembers, so their evaluation details stay unexported.
_PII_MEMORY = 10_000


def _ns(iso: str) -> int:
    """``2026-11-27T09:21:10.123456Z`` -> nanoseconds since the epoch."""
    seconds, _, fraction = iso.rstrip("Z").partition(".")
    whole = calendar.timegm(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S"))
    return whole * 1_000_000_000 + int((fraction or "0").ljust(9, "0")[:9])


def _logs_url(endpoint: str) -> str | None:
    """``.../v1/traces`` -> ``.../v1/logs`` (None for any other path)."""
    base = endpoint.rstrip("/")
    return base[: -len("/v1/traces")] + "/v1/logs" if base.endswith("/v1/traces") else None


class OTLPSink:
    """Export spans to an OTLP/HTTP endpoint (e.g. an OpenTelemetry Collector, Jaeger, Tempo, Phoenix).

    Example:
        >>> peekr.instrument(sinks=[peekr.sinks.otlp.OTLPSink("http://localhost:4318/v1/traces")])

    Args:
        endpoint: The OTLP traces URL (``.../v1/traces``).
        headers: Extra request headers (e.g. an auth token).
        service_name: The ``service.name`` resource attribute.
        timeout: Seconds per export request.
        content: Export captured prompts and replies (``gen_ai.input.messages`` & co). They exist
            only when ``capture_content`` is on, and are never exported for ``pii`` spans.
        evaluations: How ``gen_ai.evaluation.result`` events go out: ``"span"`` (default; a
            zero-length child span of the evaluated span carrying the event, which every traces
            backend shows), ``"log"`` (an OTLP log event with the evaluated span's context, the
            conventions' own form; needs a logs endpoint) or ``"both"``.
        logs_endpoint: The OTLP logs URL for ``evaluations="log"``/``"both"`` (default: the
            traces URL with ``/v1/traces`` replaced by ``/v1/logs``).

    Raises:
        ValueError: ``endpoint``/``logs_endpoint`` is not an http(s) URL, ``timeout`` is not
            positive, or ``evaluations`` is not one of the three values.
        ModuleNotFoundError: The ``otlp`` extra is not installed.
    """

    name = "otlp"

    def __init__(
        self,
        endpoint: str = "http://localhost:4318/v1/traces",
        *,
        headers: Mapping[str, str] | None = None,
        service_name: str = "peekr",
        timeout: float = 10.0,
        content: bool = True,
        evaluations: Literal["span", "log", "both"] = "span",
        logs_endpoint: str | None = None,
    ) -> None:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"OTLPSink(endpoint=...) must be an http(s) URL, got {endpoint!r}")
        if timeout <= 0:
            raise ValueError(f"OTLPSink(timeout=...) must be positive, got {timeout!r}")
        if evaluations not in ("span", "log", "both"):
            raise ValueError(f"OTLPSink(evaluations=...) must be 'span', 'log' or 'both', got {evaluations!r}")
        if evaluations != "span":
            logs_endpoint = logs_endpoint if logs_endpoint is not None else _logs_url(endpoint)
            if not isinstance(logs_endpoint, str) or not logs_endpoint.startswith(("http://", "https://")):
                raise ValueError(
                    f"OTLPSink(logs_endpoint=...) must be an http(s) URL for evaluations={evaluations!r}, "
                    f"got {logs_endpoint!r}"
                )
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
        except ImportError as exc:
            raise ModuleNotFoundError("OTLPSink needs the otlp extra: pip install 'peekr-sdk[otlp]'") from exc
        self._exporter = OTLPSpanExporter(endpoint=endpoint, headers=dict(headers or {}), timeout=timeout)
        self._log_exporter: Any = None
        if evaluations != "span":
            try:
                from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
                from opentelemetry.sdk._logs import ReadableLogRecord  # noqa: F401  (newer SDKs only)
            except ImportError as exc:
                raise ModuleNotFoundError(
                    "OTLPSink(evaluations='log') needs a newer opentelemetry-sdk: pip install -U 'peekr[otlp]'"
                ) from exc
            self._log_exporter = OTLPLogExporter(endpoint=logs_endpoint, headers=dict(headers or {}), timeout=timeout)
        self._resource = Resource.create({"service.name": service_name})
        self._content = bool(content)
        self._evaluations = evaluations
        self._pii_spans: OrderedDict[str, None] = OrderedDict()
        self.failed_batches = 0

    def _context(self, trace_id: str, span_id: str) -> Any:
        from opentelemetry.trace import SpanContext, TraceFlags

        return SpanContext(int(trace_id, 16), int(span_id, 16), False, TraceFlags(TraceFlags.SAMPLED))

    def _readable(
        self, span: Span, shape: OtelSpanShape | None = None, events: Sequence[tuple[str, dict[str, Any]]] = ()
    ) -> Any:
        from opentelemetry.sdk.trace import Event as SpanEvent
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanKind, Status, StatusCode

        shape = shape if shape is not None else describe(span, content=self._content)
        error = span.attributes.get("error") if span.status == "error" else None
        if span.status == "error":
            message = error.get("message") if isinstance(error, dict) and span.retention_class != "pii" else None
            status = Status(
                StatusCode.ERROR, str(message) if message is not None else shape.attributes.get("error.type")
            )
        else:
            status = Status(StatusCode.OK)
        start = _ns(span.start_time)
        return ReadableSpan(
            name=shape.name,
            context=self._context(span.trace_id, span.span_id),
            parent=self._context(span.trace_id, span.parent_id) if span.parent_id else None,
            resource=self._resource,
            attributes=shape.attributes,
            events=[SpanEvent(name, attributes, start) for name, attributes in events],
            kind=SpanKind.CLIENT if shape.client else SpanKind.INTERNAL,
            status=status,
            start_time=start,
            end_time=_ns(span.end_time),
        )

    def _remember(self, span: Span) -> None:
        if span.retention_class == "pii":
            self._pii_spans[span.span_id] = None
            if len(self._pii_spans) > _PII_MEMORY:
                self._pii_spans.popitem(last=False)

    def _carrier(self, event: EvalResult | Feedback, name: str, attributes: dict[str, Any]) -> Span:
        """A zero-length child span of the span (or trace) the event is about."""
        return Span.model_construct(
            trace_id=event.trace_id,
            span_id=new_span_id(),
            parent_id=event.span_id,
            name=name,
            start_time=event.created_at,
            end_time=event.created_at,
            duration_ms=0.0,
            status="ok",
            tenant_id=event.tenant_id,
            retention_class="default",
            attributes=attributes,
        )

    def _evaluation_spans(self, result: EvalResult, sets: list[dict[str, Any]]) -> list[Any]:
        out = []
        for attributes in sets:
            carrier = self._carrier(result, EVENT_NAME, attributes)
            if result.tenant_id is not None:
                attributes = {**attributes, "peekr.tenant_id": result.tenant_id}
            event = {k: v for k, v in attributes.items() if k.startswith(("gen_ai.", "error."))}
            shape = OtelSpanShape(EVENT_NAME, False, attributes)
            out.append(self._readable(carrier, shape, [(EVENT_NAME, event)]))
        return out

    def _log_records(self, result: EvalResult, sets: list[dict[str, Any]]) -> list[Any]:
        from opentelemetry._logs import LogRecord
        from opentelemetry.sdk._logs import ReadableLogRecord
        from opentelemetry.trace import NonRecordingSpan, set_span_in_context

        context = set_span_in_context(NonRecordingSpan(self._context(result.trace_id, result.span_id)))
        when = _ns(result.created_at)
        return [
            ReadableLogRecord(
                LogRecord(
                    timestamp=when,
                    observed_timestamp=when,
                    context=context,
                    event_name=EVENT_NAME,
                    attributes=attributes,
                ),
                resource=self._resource,
            )
            for attributes in sets
        ]

    def _readable_safe(self, span: Span) -> Any:
        try:
            return self._readable(span)
        except Exception:  # a value JSON cannot hold: replace just that value (counted), keep the span
            repair_span(span)
            return self._readable(span)

    def _export(self, batch: Sequence[Event]) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        spans: list[Any] = []
        logs: list[Any] = []
        for event in batch:
            if isinstance(event, Span):
                self._remember(event)
                spans.append(self._readable_safe(event))
            elif isinstance(event, EvalResult):
                sets = evaluation_attributes(event, content=self._content and event.span_id not in self._pii_spans)
                if self._evaluations != "log":
                    spans.extend(self._evaluation_spans(event, sets))
                if self._evaluations != "span":
                    logs.extend(self._log_records(event, sets))
            else:
                feedback = {"rating": event.rating, "score": event.score, "note": event.note}
                spans.append(self._readable(self._carrier(event, "peekr.feedback", feedback)))
        with suppress_instrumentation():
            result = self._exporter.export(spans) if spans else SpanExportResult.SUCCESS
            logged = self._log_exporter.export(logs) if logs else None
        if result is not SpanExportResult.SUCCESS:
            self.failed_batches += 1
            raise ConnectionError(f"OTLP export of {len(spans)} spans failed")
        if logged is not None and getattr(logged, "name", None) != "SUCCESS":
            self.failed_batches += 1
            bus = getattr(self, "_bus", None)
            if bus is not None:
                bus.record_dropped(self.name, "sink_error", len(logs))
            else:  # not on a bus of its own (wrapped by a sink that does not forward ``bind``)
                record_dropped(self.name, "sink_error", len(logs))

    def bind(self, handle: BusHandle) -> None:
        """Called by the bus: log records the collector refused are counted on that bus."""
        self._bus = handle

    async def write(self, batch: Sequence[Event]) -> None:
        """Export a batch (in a worker thread: the OTLP exporter does blocking HTTP)."""
        await run_sync(self._export, batch)

    async def flush(self, timeout: float | None = None) -> None:
        """Every ``write`` is sent before it returns."""

    async def aclose(self) -> None:
        """Shut the exporters down."""
        await run_sync(self._exporter.shutdown)
        if self._log_exporter is not None:
            await run_sync(self._log_exporter.shutdown)
