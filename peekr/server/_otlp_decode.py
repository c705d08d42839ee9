"""OTLP/HTTP trace bodies (protobuf or JSON) -> plain ``OtelSpan`` values, with the ``opentelemetry-proto`` classes.

The JSON encoding (OTLP/JSON: protobuf's JSON mapping with hex ids, integer enums, lowerCamelCase
names, 64-bit integers as strings) is read directly into the same values: ``json_format`` would
cost about 1 ms a span. Unknown fields are ignored, as the OTLP specification asks of receivers.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
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
#: Deepest AnyValue nesting read (arrays / kvlists in attributes); a deeper body is refused (400).
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
        return _spans(message)
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_otlp", f"body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ApiError(400, "invalid_otlp", f"body must be a JSON object, got {type(obj).__name__}")
    try:
        return _json_spans(obj)
    except _Bad as exc:
        raise ApiError(
            400, "invalid_otlp", f"body is not a valid OTLP ExportTraceServiceRequest (JSON): {exc}"
        ) from None


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


class _Bad(ValueError):
    """A field of an OTLP/JSON body has the wrong type; the message names where."""


def _field(obj: Mapping[str, Any], camel: str, snake: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[camel]`` (or its proto name ``snake``) checked against ``kind``; None when absent or null."""
    value = obj.get(camel, obj.get(snake))
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise _Bad(f"{where}.{camel}: expected {_names(kind)}, got {type(value).__name__}")
    return value


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({"dict": "an object", "list": "an array", "str": "a string", "int": "an integer",
                        "bool": "a boolean", "float": "a number"}[k.__name__] for k in kinds)  # fmt: skip


def _objects(obj: Mapping[str, Any], camel: str, snake: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    items = _field(obj, camel, snake, list, where) or []
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Bad(f"{where}.{camel}[{i}]: expected an object, got {type(item).__name__}")
        out.append((f"{where}.{camel}[{i}]", item))
    return out


def _uint64(obj: Mapping[str, Any], camel: str, snake: str, where: str) -> int:
    """An int64 field: a JSON integer or a decimal string (OTLP/JSON writes 64-bit integers as strings)."""
    value = _field(obj, camel, snake, (int, str), where)
    if value is None:
        return 0
    try:
        number = int(value)
    except ValueError:
        raise _Bad(f"{where}.{camel}: {str(value)[:40]!r} is not an integer") from None
    if not 0 <= number < 2**64:
        raise _Bad(f"{where}.{camel}: {number} is out of range")
    return number


def _hex_id(obj: Mapping[str, Any], camel: str, snake: str, where: str) -> str:
    value = _field(obj, camel, snake, str, where) or ""
    try:
        return bytes.fromhex(value).hex()
    except ValueError:
        raise _Bad(f"{where}.{camel}: {value[:40]!r} is not a hex id") from None


def _json_spans(body: Mapping[str, Any]) -> list[OtelSpan]:
    """The spans of an OTLP/JSON body, read directly (``json_format`` costs about 1 ms a span)."""
    out: list[OtelSpan] = []
    for where_r, resource_spans in _objects(body, "resourceSpans", "resource_spans", "body"):
        resource_obj = _field(resource_spans, "resource", "resource", dict, where_r) or {}
        resource = _json_attributes(resource_obj, f"{where_r}.resource")
        for where_s, scope_spans in _objects(resource_spans, "scopeSpans", "scope_spans", where_r):
            for where, span in _objects(scope_spans, "spans", "spans", where_s):
                status = _field(span, "status", "status", dict, where) or {}
                code = status.get("code", 0)
                code = _STATUS_NAMES.get(code, code) if isinstance(code, str) else code
                if not isinstance(code, int) or isinstance(code, bool):
                    raise _Bad(f"{where}.status.code: expected an integer, got {code!r}"[:200])
                events = [
                    OtelEvent(
                        _field(event, "name", "name", str, where_e) or "",
                        _uint64(event, "timeUnixNano", "time_unix_nano", where_e),
                        _json_attributes(event, where_e),
                    )
                    for where_e, event in _objects(span, "events", "events", where)
                ]
                out.append(
                    OtelSpan(
                        trace_id=_hex_id(span, "traceId", "trace_id", where),
                        span_id=_hex_id(span, "spanId", "span_id", where),
                        parent_id=_hex_id(span, "parentSpanId", "parent_span_id", where),
                        name=_field(span, "name", "name", str, where) or "",
                        start_ns=_uint64(span, "startTimeUnixNano", "start_time_unix_nano", where),
                        end_ns=_uint64(span, "endTimeUnixNano", "end_time_unix_nano", where),
                        status_code=code,
                        status_message=_field(status, "message", "message", str, f"{where}.status") or "",
                        attributes=_json_attributes(span, where),
                        events=events,
                        resource=resource,
                    )
                )
    return out


_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def _json_attributes(obj: Mapping[str, Any], where: str, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for where_kv, kv in _objects(obj, "attributes", "attributes", where):
        key = _field(kv, "key", "key", str, where_kv)
        if key is None:
            raise _Bad(f"{where_kv}.key: missing")
        out[key] = _json_value(kv.get("value"), f"{where_kv}.value", depth)
    return out


def _json_value(value: Any, where: str, depth: int) -> Any:
    """An OTLP/JSON ``AnyValue`` as a plain Python value."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Bad(f"{where}: expected an AnyValue object, got {type(value).__name__}")
    for name, item in value.items():
        if name in ("stringValue", "string_value"):
            if not isinstance(item, str):
                raise _Bad(f"{where}.stringValue: expected a string")
            return item
        if name in ("boolValue", "bool_value"):
            if not isinstance(item, bool):
                raise _Bad(f"{where}.boolValue: expected a boolean")
            return item
        if name in ("intValue", "int_value"):
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise _Bad(f"{where}.intValue: expected an integer or a decimal string")
            try:
                number = int(item)
            except ValueError:
                raise _Bad(f"{where}.intValue: {str(item)[:40]!r} is not an integer") from None
            if not -(2**63) <= number < 2**63:
                raise _Bad(f"{where}.intValue: {number} is out of the int64 range")
            return number
        if name in ("doubleValue", "double_value"):
            if isinstance(item, str) and item in ("NaN", "Infinity", "-Infinity"):
                return float(item)
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise _Bad(f"{where}.doubleValue: expected a number")
            return float(item)
        if name in ("bytesValue", "bytes_value"):
            if not isinstance(item, str):
                raise _Bad(f"{where}.bytesValue: expected base64 text")
            return item
        if name in ("arrayValue", "array_value", "kvlistValue", "kvlist_value"):
            if depth >= _MAX_VALUE_DEPTH:
                raise _Bad(f"{where}: values nest deeper than {_MAX_VALUE_DEPTH} levels")
            if not isinstance(item, dict):
                raise _Bad(f"{where}.{name}: expected an object")
            if name.startswith("array"):
                values = _field(item, "values", "values", list, f"{where}.{name}") or []
                return [_json_value(v, f"{where}.{name}.values[{i}]", depth + 1) for i, v in enumerate(values)]
            return _json_attributes({"attributes": item.get("values")}, f"{where}.{name}", depth + 1)
    return None  # an empty AnyValue, or only fields this server does not know


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
            raise _too_deep()
        return [_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        if depth >= _MAX_VALUE_DEPTH:
            raise _too_deep()
        return {kv.key: _value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return binascii.b2a_base64(value.bytes_value, newline=False).decode()
    return getattr(value, kind)


def _too_deep() -> ApiError:
    return ApiError(400, "invalid_otlp", f"attribute values nest deeper than {_MAX_VALUE_DEPTH} levels")
