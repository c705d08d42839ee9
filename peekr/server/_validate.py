"""Per-record validation of an ingest body: every good record is kept, every bad one explained."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .._events import EvalResult, Feedback
from .._span import Span
from ._store import format_time, parse_time, record_key
from ._wire import RecordKind, RejectedRecord

__all__ = ["ValidatedBatch", "validate_records"]

_MAX_ERROR = 300


@dataclass
class ValidatedBatch:
    """The records that passed, stamped with the caller's tenant, and the rejections."""

    spans: list[Span] = field(default_factory=list)
    evals: list[tuple[EvalResult, str]] = field(default_factory=list)
    feedback: list[tuple[Feedback, str]] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Records that passed validation."""
        return len(self.spans) + len(self.evals) + len(self.feedback)


def validate_records(tenant_id: str, spans: list[Any], evals: list[Any], feedback: list[Any]) -> ValidatedBatch:
    """Validate each record; a ``tenant_id`` in a record is overwritten by the key's tenant."""
    out = ValidatedBatch()
    for i, raw in enumerate(spans):
        try:
            span = Span.model_validate(_obj(raw))
            start, end = parse_time(span.start_time), parse_time(span.end_time)
            if end < start:
                raise ValueError("end_time is before start_time")
            out.spans.append(
                span.model_copy(
                    update={"tenant_id": tenant_id, "start_time": format_time(start), "end_time": format_time(end)}
                )
            )
        except (ValidationError, ValueError, TypeError) as exc:
            out.rejected.append(_reject("spans", i, raw, "span_id", exc))
    for i, raw in enumerate(evals):
        try:
            result = EvalResult.model_validate(_obj(raw))
            for name, score in result.scores.items():
                if score is not None and not 0.0 <= score <= 1.0:
                    raise ValueError(f"scores.{name}={score!r} is outside [0, 1]")
            result = result.model_copy(
                update={"tenant_id": tenant_id, "created_at": format_time(parse_time(result.created_at))}
            )
            out.evals.append((result, record_key(result)))
        except (ValidationError, ValueError, TypeError) as exc:
            out.rejected.append(_reject("eval_results", i, raw, "span_id", exc))
    for i, raw in enumerate(feedback):
        try:
            fb = Feedback.model_validate(_obj(raw))
            if fb.rating is None and fb.score is None:
                raise ValueError("feedback needs a rating ('good' or 'bad') or a score")
            fb = fb.model_copy(update={"tenant_id": tenant_id, "created_at": format_time(parse_time(fb.created_at))})
            out.feedback.append((fb, record_key(fb)))
        except (ValidationError, ValueError, TypeError) as exc:
            out.rejected.append(_reject("feedback", i, raw, "trace_id", exc))
    return out


def _obj(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise TypeError(f"record must be a JSON object, got {type(raw).__name__}")
    # Local JSONL lines carry "record"; spans have none on the wire, so drop it before strict validation.
    if raw.get("record") == "span":
        raw = {k: v for k, v in raw.items() if k != "record"}
    return raw


def _reject(kind: RecordKind, index: int, raw: Any, id_field: str, exc: Exception) -> RejectedRecord:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors()[:5]]
        message = "; ".join(parts)
    else:
        message = str(exc)
    ident = raw.get(id_field) if isinstance(raw, dict) else None
    return RejectedRecord(
        kind=kind, index=index, id=ident if isinstance(ident, str) else None, error=message[:_MAX_ERROR]
    )
