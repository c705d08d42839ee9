"""``POST /v1/traces``: OTLP/HTTP trace ingest (protobuf or JSON), through the same checks and store as ``/v1/ingest``.

The key, its tenant and rate limit, the body limits (gzip included), per-record validation and the
idempotent store insert are ``/v1/ingest``'s own; only the body format differs. Answers follow the
OTLP/HTTP specification: ``ExportTraceServiceResponse`` (with ``partial_success`` when spans were
rejected) in the request's encoding, and a ``google.rpc.Status`` body for every 4xx and 5xx.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from ._body import read_limited_body
from ._errors import ApiError
from ._otlp_decode import JSON, PROTOBUF, decode_request, encode_response, encode_status
from ._otlp_map import MappedBatch, map_spans, rejection_summary
from ._state import observe_alerts, require, state_of
from ._validate import ValidatedBatch, validate_records

__all__ = ["router"]

_log = logging.getLogger("peekr.server")
router = APIRouter(tags=["otlp"])

#: HTTP status -> google.rpc.Code of the Status body.
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14}
_BODY = {
    PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
    JSON: {"schema": {"type": "object"}},
}


def _answers(description: str) -> dict[str, Any]:
    return {"description": description, "content": _BODY}


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _answers("ExportTraceServiceResponse; partialSuccess.rejectedSpans counts the spans not stored, and why."),
    400: _answers("google.rpc.Status: the body is not an OTLP trace export request, or corrupt gzip."),
    401: _answers("google.rpc.Status: missing, invalid or revoked API key."),
    403: _answers("google.rpc.Status: the key lacks the 'ingest' scope."),
    413: _answers("google.rpc.Status: body, decompressed body or span count over the limit: split."),
    415: _answers(
        "google.rpc.Status: Content-Type other than application/x-protobuf or application/json, "
        "or Content-Encoding other than gzip."
    ),
    429: _answers("google.rpc.Status: rate limit; wait Retry-After seconds."),
    503: _answers("google.rpc.Status: storage unavailable; retry with backoff."),
}


def _media_type(header: str | None) -> str | None:
    kind = (header or "").split(";", 1)[0].strip().lower()
    return kind if kind in (PROTOBUF, JSON) else None


@router.post(
    "/v1/traces",
    response_class=Response,
    responses=_RESPONSES,
    summary="Ingest OpenTelemetry spans (OTLP/HTTP, protobuf or JSON)",
    openapi_extra={"requestBody": {"required": True, "content": _BODY}},
)
async def otlp_traces(request: Request) -> Response:
    """Store the spans of an OTLP ``ExportTraceServiceRequest``, mapped to Peekr spans (docs/otlp-ingest.md).

    Idempotent by span id within the tenant; invalid spans are counted in ``partialSuccess`` and the
    rest is stored.
    """
    media_type = _media_type(request.headers.get("content-type"))
    try:
        return await _ingest(request, media_type)
    except ApiError as exc:
        body = encode_status(_GRPC_CODES.get(exc.status, 2), f"{exc.code}: {exc.message}", media_type or JSON)
        return Response(body, status_code=exc.status, headers=exc.headers, media_type=media_type or JSON)


async def _ingest(request: Request, media_type: str | None) -> Response:
    principal = await require(request, "ingest")
    if media_type is None:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {request.headers.get('content-type')!r} is not supported; "
            f"send {PROTOBUF} or {JSON} (OTLP/HTTP)",
        )
    state = state_of(request)
    settings = state.settings
    data = await read_limited_body(
        request.stream(),
        content_length=request.headers.get("content-length"),
        content_encoding=request.headers.get("content-encoding"),
        max_body_bytes=settings.max_body_bytes,
        max_decompressed_bytes=settings.max_decompressed_bytes,
    )
    mapped, batch = await anyio.to_thread.run_sync(
        _decode_and_validate, data, media_type, principal.tenant_id, settings.max_records
    )
    if batch.count:
        try:
            await state.store.ingest(principal.tenant_id, batch.spans, batch.evals, batch.feedback)
            observe_alerts(state, batch.spans, [result for result, _ in batch.evals])
        except Exception:
            _log.exception(
                "Storage failed while ingesting %d OTLP records for tenant %r", batch.count, principal.tenant_id
            )
            raise ApiError(
                503, "storage_unavailable", "storage is unavailable; retry later", {"Retry-After": "1"}
            ) from None
    rejected, errors = _rejections(mapped, batch)
    return Response(encode_response(rejected, rejection_summary(errors), media_type), media_type=media_type)


def _decode_and_validate(
    data: bytes, media_type: str, tenant_id: str, max_records: int
) -> tuple[MappedBatch, ValidatedBatch]:
    """Decode, map and validate (in a worker thread: the price table and big batches take a while)."""
    spans = decode_request(data, media_type)
    if len(spans) > max_records:
        raise ApiError(
            413, "too_many_records", f"{len(spans)} spans exceed the limit of {max_records}; split the batch"
        )
    mapped = map_spans(spans)
    return mapped, validate_records(tenant_id, mapped.spans, mapped.evals, mapped.feedback)


def _rejections(mapped: MappedBatch, batch: ValidatedBatch) -> tuple[int, list[str]]:
    """How many OTLP spans were not stored, and the reasons (evaluation events of a stored span included)."""
    bad: dict[int, str] = dict(mapped.rejected)
    notes: list[str] = []
    for record in batch.rejected:
        if record.kind == "spans":
            index = mapped.span_origin[record.index]
            bad[index] = f"span {mapped.spans[record.index].get('span_id')}: {record.error}"
        elif record.kind == "feedback":
            index = mapped.feedback_origin[record.index]
            bad[index] = f"feedback span of trace {mapped.feedback[record.index].get('trace_id')}: {record.error}"
        else:
            message = f"evaluation of span {mapped.evals[record.index].get('span_id')}: {record.error}"
            if mapped.eval_is_span[record.index]:
                for index in mapped.eval_origin[record.index]:
                    bad[index] = message
            else:
                notes.append(message)
    return len(bad), [bad[i] for i in sorted(bad)] + notes
