"""Per-record validation of an ingest body: every good record is kept, every bad one explained."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from .._events import EvalResult, Feedback
from .._span import Span
from ._store import format_time, parse_time, record_key
from ._wire import RecordKind, RejectedRecord

__all__ = [
    "MAX_COST_USD",
    "MAX_DEPTH",
    "MAX_DURATION_MS",
    "MAX_TOKENS",
    "HugeInt",
    "ValidatedBatch",
    "validate_records",
]

_MAX_ERROR = 300
#: Deepest nesting of objects and arrays inside one record (both storage backends and every reader cope).
MAX_DEPTH = 100
#: Bounds of the numbers the query API adds up: wider values are not token counts, costs or durations.
MAX_TOKENS = 10**12
MAX_COST_USD = 1e9
MAX_DURATION_MS = 1e12  # about 31 years
_TOKEN_KEYS = ("tokens_input", "tokens_output", "tokens_total", "tokens_cache_read", "tokens_cache_write",
               "tokens_reasoning")  # fmt: skip
_SCALARS = (str, int, bool, type(None))
_SPAN_FIELDS = frozenset(Span.model_fields)
_EVAL_FIELDS = frozenset(EvalResult.model_fields)
_FEEDBACK_FIELDS = frozenset(Feedback.model_fields)
_CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


class HugeInt:
    """Stands for an integer literal longer than Python parses (4,300 digits): its record is rejected."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<integer of {self.digits} digits>"


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
            span = Span.model_validate(_checked(raw, _SPAN_FIELDS))
            start, end = _canonical("start_time", span.start_time), _canonical("end_time", span.end_time)
            if end < start:  # canonical timestamps sort as text
                raise ValueError("end_time is before start_time")
            _check_bounds(span)
            # Plain attribute assignment: the model was just validated (model_copy costs more than validation).
            span.tenant_id, span.start_time, span.end_time = tenant_id, start, end
            out.spans.append(span)
        except (ValidationError, ValueError, TypeError) as exc:
            out.rejected.append(_reject("spans", i, raw, "span_id", exc))
    for i, raw in enumerate(evals):
        try:
            result = EvalResult.model_validate(_checked(raw, _EVAL_FIELDS))
            for name, score in result.scores.items():
                if score is not None and not 0.0 <= score <= 1.0:
                    raise ValueError(f"scores.{name}={score!r} is outside [0, 1]")
            result.tenant_id, result.created_at = tenant_id, _canonical("created_at", result.created_at)
            out.evals.append((result, record_key(result)))
        except (ValidationError, ValueError, TypeError) as exc:
            out.rejected.append(_reject("eval_results", i, raw, "span_id", exc))
    for i, raw in enumerate(feedback):
        try:
            fb = Feedback.model_validate(_checked(raw, _FEEDBACK_FIELDS))
            if fb.rating is None and fb.score is None:
                raise ValueError("feedback needs a rating ('good' or 'bad') or a score")
            fb.tenant_id, fb.created_at = tenant_id, _canonical("created_at", fb.created_at)
            out.feedback.append((fb, record_key(fb)))
        except (ValidationError, ValueError, TypeError) as exc:
            out.rejected.append(_reject("feedback", i, raw, "trace_id", exc))
    return out


def _canonical(name: str, value: str) -> str:
    """``2026-11-27T09:21:10.123456Z`` as stored; exporters already send this form (fast path)."""
    try:
        if _CANONICAL.fullmatch(value):
            datetime.fromisoformat(value[:-1])  # a real date (no 2026-02-30), checked in C
            return value
        return format_time(parse_time(value))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _checked(raw: Any, known: frozenset[str]) -> dict[str, Any]:
    """The record's known fields, once every value in them is one storage and readers can take."""
    if not isinstance(raw, dict):
        raise TypeError(f"record must be a JSON object, got {type(raw).__name__}")
    # Forward compatible: top-level fields this server does not know (a newer SDK's) are ignored.
    obj = {k: v for k, v in raw.items() if k in known}
    problem = None if _fine(obj, 1) else _find_problem(obj, 1)
    if problem is not None:
        reason, path = problem
        raise ValueError(f"{'.'.join(reversed(path))}: {reason}")
    return obj


def _fine(value: Any, depth: int) -> bool:
    """True when ``_find_problem`` finds nothing (no non-finite float, no ``HugeInt``, nesting within
    MAX_DEPTH): the common case, checked by exact type in about half its time; anything else is
    left to ``_find_problem``, which names the problem."""
    if depth > MAX_DEPTH:
        return False
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict or kind is list:
            if not _fine(item, depth + 1):
                return False
        elif kind is not float or not math.isfinite(item):
            return False
    return True


def _find_problem(value: Any, depth: int) -> tuple[str, list[str]] | None:
    """The first value that is not finite JSON, or nesting beyond MAX_DEPTH: (reason, reversed path)."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    elif isinstance(value, float):
        if math.isfinite(value):
            return None
        return f"{value!r} is not a finite number (JSON has no NaN or Infinity); send null or a number", []
    elif isinstance(value, HugeInt):
        return f"an integer of {value.digits} digits is too large", []
    else:
        return None
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels", []
    for key, item in items:
        if isinstance(item, _SCALARS):
            continue
        problem = _find_problem(item, depth + 1)
        if problem is not None:
            problem[1].append(str(key))
            return problem
    return None


def _check_bounds(span: Span) -> None:
    """Counts, costs and durations the query API sums must be non-negative and of sane size."""
    if span.duration_ms > MAX_DURATION_MS:
        raise ValueError(f"duration_ms={span.duration_ms!r} is over {MAX_DURATION_MS:g}")
    attributes: dict[str, Any] = span.attributes  # type: ignore[assignment]
    for key in _TOKEN_KEYS:
        tokens = attributes.get(key)
        if tokens is not None and not 0 <= tokens <= MAX_TOKENS:
            raise ValueError(f"attributes.{key}={tokens!r} must be between 0 and {MAX_TOKENS:,}")
    for key, limit in (("cost_usd", MAX_COST_USD), ("ttft_ms", MAX_DURATION_MS)):
        number = attributes.get(key)
        if number is not None and not 0 <= number <= limit:
            raise ValueError(f"attributes.{key}={number!r} must be between 0 and {limit:g}")


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
