"""JSON encoding of events, shared by every sink and exporter.

Spans are encoded field by field with ``pydantic_core.to_json`` (Rust, schema-less): hot-path
spans are built without validation, so a user attribute holding an odd object must not make
encoding fail or warn — anything JSON cannot hold is stored as its ``str()``.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json

from ._events import EvalResult, Event, Feedback
from ._span import Span

__all__ = ["SPAN_FIELDS", "dumps", "event_to_dict", "event_to_json", "span_to_dict"]

SPAN_FIELDS = (
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "start_time",
    "end_time",
    "duration_ms",
    "status",
    "tenant_id",
    "retention_class",
    "attributes",
)


def _fallback(value: Any) -> Any:
    return str(value)


def dumps(value: Any) -> bytes:
    """Encode any value as compact JSON bytes; never raises for odd objects.

    NaN and infinities become ``null``: they are not JSON, and SQLite's JSON functions reject them.
    """
    return to_json(value, fallback=_fallback, inf_nan_mode="null")


def span_to_dict(span: Span) -> dict[str, Any]:
    """The span as a plain dict (attributes shared, not copied)."""
    return {name: getattr(span, name) for name in SPAN_FIELDS}


def event_to_dict(event: Event) -> dict[str, Any]:
    """Any event as a plain dict; eval results and feedback carry their ``record`` key."""
    if isinstance(event, Span):
        return span_to_dict(event)
    assert isinstance(event, (EvalResult, Feedback))
    return event.model_dump(mode="json")


def event_to_json(event: Event) -> bytes:
    """Any event as one compact JSON document (no trailing newline)."""
    if isinstance(event, Span):
        return dumps(span_to_dict(event))
    return event.model_dump_json().encode()
