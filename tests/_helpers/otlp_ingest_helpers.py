"""Helpers for the collector's OTLP ingest tests: real OTel SDK exporters pointed at ``/v1/traces``,
OTLP JSON bodies, and readers of what the collector stored."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from collector_helpers import auth
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from peekr.server._testing import RunningCollector

PROTOBUF, JSON = "application/x-protobuf", "application/json"


@contextmanager
def otel_provider(
    collector: RunningCollector, key: str, *, gzip: bool = False, service: str = "otel-app"
) -> Iterator[TracerProvider]:
    """A TracerProvider exporting every span at its end to the collector with the real OTLP/HTTP exporter."""
    exporter = OTLPSpanExporter(
        endpoint=collector.url + "/v1/traces",
        headers=auth(key),
        compression=Compression.Gzip if gzip else Compression.NoCompression,
        timeout=10,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider
    finally:
        provider.shutdown()


def otlp_json(spans: list[ReadableSpan]) -> dict[str, Any]:
    """The OTLP/JSON body of ``spans`` (hex ids, camelCase, int64 as strings), from the SDK's own encoder."""
    return message_json(encode_spans(spans))


def message_json(message: Any) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` as OTLP/JSON: protobuf's JSON mapping with hex ids instead of base64."""
    from google.protobuf import json_format

    body: dict[str, Any] = json_format.MessageToDict(message)
    for resource_spans in body["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return body


def post(
    collector: RunningCollector, key: str, body: bytes, content_type: str = PROTOBUF, **headers: str
) -> httpx.Response:
    """POST raw bytes to ``/v1/traces``."""
    return httpx.post(
        collector.url + "/v1/traces", content=body, headers={**auth(key), "Content-Type": content_type, **headers}
    )


def partial_success(response: httpx.Response) -> tuple[int, str]:
    """``(rejected_spans, error_message)`` of an ``ExportTraceServiceResponse`` in either encoding."""
    if response.headers["content-type"].startswith(JSON):
        answer = response.json().get("partialSuccess", {})
        return int(answer.get("rejectedSpans", 0)), answer.get("errorMessage", "")
    message = ExportTraceServiceResponse()
    message.ParseFromString(response.content)
    return message.partial_success.rejected_spans, message.partial_success.error_message


def status_message(response: httpx.Response) -> str:
    """The ``google.rpc.Status`` message of an error answer in either encoding."""
    if response.headers["content-type"].startswith(JSON):
        return str(response.json()["message"])
    from google.rpc.status_pb2 import Status

    status = Status()
    status.ParseFromString(response.content)
    return str(status.message)


def trace(collector: RunningCollector, read_key: str, trace_id: str) -> dict[str, Any]:
    """``GET /v1/traces/{trace_id}`` (asserts 200)."""
    answer = httpx.get(f"{collector.url}/v1/traces/{trace_id}", headers=auth(read_key))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def spans_by_name(collector: RunningCollector, read_key: str, trace_id: str) -> dict[str, dict[str, Any]]:
    """The stored spans of a trace by name (names must be unique in the trace)."""
    spans = trace(collector, read_key, trace_id)["spans"]
    by_name = {s["name"]: s for s in spans}
    assert len(by_name) == len(spans), json.dumps([s["name"] for s in spans])
    return by_name
