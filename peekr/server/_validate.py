"""Per-record validation of an ingest body: every good record is kept, every bad one explained."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from .._events import EvalResult, Feedback
from .._span import Span
from ._store import format_time, parse_time, record_key
from ._wire import RecordKind, RejectedRecord

__all__ = ["ValidatedBatch", "validate_records"]

_MAX_ERROR = 300
_SPAN_FIELDS = frozenset(Span.model_fields)
_EVAL_FIELDS = frozenset(EvalResult.model_fields)
_FEEDBACK_FIELDS = frozenset(Feedback.model_fields)
_CANONICAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


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
            span = Span.model_validate(_obj(raw, _SPAN_FIELDS))
            start, end = _canonical(span.start_time), _canonical(span.end_time)
            if end < start:  # canonical timestamps sort as text
                raise ValueError("end_time is before start_time")
            # Plain attribute assignment: the model was just validated (model_copy costs more than validation).
            span.tenant_id, span.start_time, span.end_time = tenant_id, start, end
            out.spans.append(span)
        except (ValidationError, ValueError, TypeError) as exc:
            out.rejected.append(_reject("spans", i, raw, "span_id", exc))
    for i, raw in enumerate(evals):
        try:
            result = EvalResult.model_validate(_obj(raw, _EVAL_FIELDS))
            for name, score in result.scores.items():
                if score is not None and not 0.0 <= score <= 1.0:
                    raise ValueError(f"scores.{name}={score!r} is outside [0, 1]")
            result.tenant_id, result.created_at = tenant_id, _canonical(result.created_at)
            out.evals.append((result, record_key(result)))
        except (ValidationError, ValueError, TypeError) as exc:
            out.rejected.append(_reject("eval_results", i, raw, "span_id", exc))
    for i, raw in enumerate(feedback):
        try:
            fb = Feedback.model_validate(_obj(raw, _FEEDBACK_FIELDS))
            if fb.rating is None and fb.score is None:
                raise ValueError("feedback needs a rating ('good' or 'bad') or a score")
            fb.tenant_id, fb.created_at = tenant_id, _canonical(fb.created_at)
            out.feedback.append((fb, record_key(fb)))
        except (ValidationError, ValueError, TypeError) as exc:
            out.rejected.append(_reject("feedback", i, raw, "trace_id", exc))
    return out


def _canonical(value: str) -> str:
    """``2026-11-27T09:21:10.123456Z`` as stored; exporters already send this form (fast path)."""
    if _CANONICAL.match(value):
        datetime.fromisoformat(value[:-1])  # a real date (no 2026-02-30), checked in C
        return value
    return format_time(parse_time(value))


def _obj(raw: Any, known: frozenset[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise TypeError(f"record must be a JSON object, got {type(raw).__name__}")
    # Forward compatible: top-level fields this server does not know (a newer SDK's) are ignored.
    return {k: v for k, v in raw.items() if k in known}


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
