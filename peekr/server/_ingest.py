"""``POST /v1/ingest``: the one write endpoint (wire format v1, docs/wire-format.md)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import APIRouter, Request

from ._body import read_limited_body
from ._errors import ApiError
from ._state import observe_alerts, require, state_of
from ._validate import MAX_DEPTH, HugeInt, validate_records
from ._wire import WIRE_VERSION, ErrorBody, IngestRequest, IngestResponse

__all__ = ["router"]

_log = logging.getLogger("peekr.server")
router = APIRouter(tags=["ingest"])
# A \uD800-\uDFFF escape: rare, so the body is scrubbed only when one appears.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed body, unknown wire version, corrupt gzip. Not retryable."},
    401: {"model": ErrorBody, "description": "Missing, invalid or revoked API key. Not retryable."},
    403: {"model": ErrorBody, "description": "The key lacks the 'ingest' scope. Not retryable."},
    413: {"model": ErrorBody, "description": "Body, decompressed body or record count over the limit: split."},
    415: {"model": ErrorBody, "description": "Content-Encoding other than gzip or identity."},
    429: {
        "model": ErrorBody,
        "description": "Rate limit for this key, or too many failed authentications from this address; wait Retry-After seconds.",
    },
    503: {"model": ErrorBody, "description": "Storage unavailable; retry with backoff."},
}


@router.post(
    "/v1/ingest",
    response_model=IngestResponse,
    responses=_ERRORS,
    summary="Ingest spans, evaluation results and feedback",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": IngestRequest.model_json_schema(ref_template="#/components/schemas/{model}")
                }
            },
        }
    },
)
async def ingest(request: Request) -> IngestResponse:
    """Store a batch. Idempotent: records already stored count as duplicates, not errors.

    Invalid records are listed in ``rejected`` and the rest is stored (partial success). The
    tenant is the API key's; a ``tenant_id`` inside a record is overwritten.
    """
    principal = await require(request, "ingest")
    state = state_of(request)
    settings = state.settings
    data = await read_limited_body(
        request.stream(),
        content_length=request.headers.get("content-length"),
        content_encoding=request.headers.get("content-encoding"),
        max_body_bytes=settings.max_body_bytes,
        max_decompressed_bytes=settings.max_decompressed_bytes,
    )
    body = _parse(data)
    lists = {}
    for kind in ("spans", "eval_results", "feedback"):
        value = body.get(kind, [])
        if not isinstance(value, list):
            raise ApiError(400, "invalid_body", f"{kind!r} must be an array, got {type(value).__name__}")
        lists[kind] = value
    total = sum(len(v) for v in lists.values())
    if total > settings.max_records:
        raise ApiError(
            413, "too_many_records", f"{total} records exceed the limit of {settings.max_records}; split the batch"
        )
    batch = validate_records(principal.tenant_id, lists["spans"], lists["eval_results"], lists["feedback"])
    stored = duplicates = 0
    if batch.count:
        try:
            counts = await state.store.ingest(principal.tenant_id, batch.spans, batch.evals, batch.feedback)
        except Exception:
            _log.exception("Storage failed while ingesting %d records for tenant %r", batch.count, principal.tenant_id)
            raise ApiError(
                503, "storage_unavailable", "storage is unavailable; retry later", {"Retry-After": "1"}
            ) from None
        stored, duplicates = counts.stored, counts.duplicates
        observe_alerts(state, batch.spans, [result for result, _ in batch.evals])
    return IngestResponse(accepted=stored + duplicates, stored=stored, duplicates=duplicates, rejected=batch.rejected)


def _scrub(value: Any, depth: int = 0) -> Any:
    """Replace lone surrogates (valid JSON escapes, invalid text) so the records can be stored and read.

    Stops below the deepest nesting a record may have: a deeper record is rejected anyway, and
    following it would exhaust the Python stack.
    """
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if depth > MAX_DEPTH + 2:  # body -> array -> record: two levels above the record's own
        return value
    if isinstance(value, list):
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {_scrub(k, depth + 1): _scrub(v, depth + 1) for k, v in value.items()}
    return value


def _parse(data: bytes) -> dict[str, Any]:
    try:
        body = _loads(data)
    except RecursionError:
        raise ApiError(400, "invalid_json", "body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", f"body must be a JSON object, got {type(body).__name__}")
    if _SURROGATE_ESCAPE.search(data):
        body = {k: _scrub(v) for k, v in body.items()}
    version = body.get("version")
    if type(version) is not int or version != WIRE_VERSION:  # not True, not 1.0
        raise ApiError(
            400,
            "unsupported_version",
            f"wire format version {version!r} is not supported; this server speaks version {WIRE_VERSION}",
        )
    return body


def _loads(data: bytes) -> Any:
    """``json.loads``; an integer literal too long for Python becomes a ``HugeInt`` (its record is rejected)."""
    try:
        return json.loads(data)
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
    return json.loads(data, parse_int=_int_or_huge)


def _int_or_huge(text: str) -> int | HugeInt:
    try:
        return int(text)
    except ValueError:  # over sys.get_int_max_str_digits()
        return HugeInt(len(text.lstrip("-")))
