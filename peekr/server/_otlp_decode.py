"""OTLP/HTTP trace bodies (protobuf or JSON) -> plain ``OtelSpan`` values, with the ``opentelemetry-proto`` classes.

The JSON encoding is protobuf's JSON mapping with the OTLP exceptions: trace and span ids are hex
(not base64) and enums are integers; both are handled here, the rest by ``json_format``. Unknown
fields are ignored, as the OTLP specification asks of receivers.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ._errors import ApiError

__all__ = ["OtelEvent", "OtelSpan", "decode_request", "encode_response"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: Deepest AnyValue nesting read (arrays / kvlists in attributes); deeper values become their text form.
_MAX_VALUE_DEPTH = 64


@dataclass
class OtelEvent:
    """A span event: name, time and attributes."""

    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass
class OtelSpan:
    """One decoded OTLP span; ids are lowercase hex ("" when absent)."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    attributes: dict[str, Any]
    events: list[OtelEvent] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)


def decode_request(data: bytes, content_type: str) -> list[OtelSpan]:
    """Every span of an ``ExportTraceServiceRequest`` body in ``content_type`` (``PROTOBUF`` or ``JSON``).

    Raises:
        ApiError: 400 ``invalid_otlp`` when the body is not such a message.
    """
    message = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            message.ParseFromString(data)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise ApiError(
                400, "invalid_otlp", f"body is not a valid OTLP ExportTraceServiceRequest (protobuf): {exc}"
            ) from None
    else:
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, "invalid_otlp", f"body is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ApiError(400, "invalid_otlp", f"body must be a JSON object, got {type(obj).__name__}")
        _hex_ids_to_base64(obj)
        try:
            json_format.ParseDict(obj, message, ignore_unknown_fields=True)
        except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
            raise ApiError(
                400, "invalid_otlp", f"body is not a valid OTLP ExportTraceServiceRequest (JSON): {exc}"
            ) from None
    return _spans(message)


def encode_response(rejected: int, error_message: str, content_type: str) -> bytes:
    """An ``ExportTraceServiceResponse`` (``partial_success`` only when something was rejected)."""
    response = ExportTraceServiceResponse()
    if rejected or error_message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = error_message
    if content_type == PROTOBUF:
        return bytes(response.SerializeToString())
    return str(json_format.MessageToJson(response, indent=None)).encode()


def encode_status(code: int, message: str, content_type: str) -> bytes:
    """A ``google.rpc.Status`` body, as OTLP/HTTP wants for every 4xx and 5xx answer."""
    from google.rpc.status_pb2 import Status

    status = Status(code=code, message=message)
    if content_type == PROTOBUF:
        return bytes(status.SerializeToString())
    return str(json_format.MessageToJson(status, indent=None)).encode()


def _hex_ids_to_base64(obj: dict[str, Any]) -> None:
    """OTLP JSON's hex ids -> protobuf JSON's base64 bytes, in place.

    Raises:
        ApiError: 400 for an id that is not hex.
    """
    for r, resource_spans in enumerate(_list(obj, "resourceSpans", "resource_spans")):
        for s, scope_spans in enumerate(_list(resource_spans, "scopeSpans", "scope_spans")):
            for i, span in enumerate(_list(scope_spans, "spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                _convert_ids(span, where)
                for j, link in enumerate(_list(span, "links")):
                    _convert_ids(link, f"{where}.links[{j}]")


def _list(obj: Any, *names: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    for name in names:
        value = obj.get(name)
        if isinstance(value, list):
            return value
    return []


def _convert_ids(span: Any, where: str) -> None:
    if not isinstance(span, dict):
        return
    for key in ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"):
        value = span.get(key)
        if isinstance(value, str):
            try:
                span[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise ApiError(400, "invalid_otlp", f"{where}.{key}: {value[:40]!r} is not a hex id") from None


def _spans(message: ExportTraceServiceRequest) -> list[OtelSpan]:
    out: list[OtelSpan] = []
    for resource_spans in message.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    OtelSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=span.status.code,
                        status_message=span.status.message,
                        attributes=_attributes(span.attributes),
                        events=[
                            OtelEvent(event.name, event.time_unix_nano, _attributes(event.attributes))
                            for event in span.events
                        ],
                        resource=resource,
                    )
                )
    return out


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value, 0) for kv in pairs}


def _value(value: Any, depth: int) -> Any:
    """An ``AnyValue`` as a plain Python value (bytes as base64 text, as OTLP JSON writes them)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        if depth >= _MAX_VALUE_DEPTH:
            return str(value)
        return [_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        if depth >= _MAX_VALUE_DEPTH:
            return str(value)
        return {kv.key: _value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return binascii.b2a_base64(value.bytes_value, newline=False).decode()
    return getattr(value, kind)
