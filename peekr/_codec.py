"""JSON encoding of events, shared by every sink and exporter.

Spans are encoded field by field with ``pydantic_core.to_json`` (Rust, schema-less): hot-path
spans are built without validation, so a user attribute holding an odd object must not make
encoding fail or warn — anything JSON cannot hold is stored as its ``str()``.

A few values cannot be encoded even so: a dict that contains itself, nesting deeper than
~254 levels, an object whose ``str()`` raises, a string with a lone surrogate. Sinks encode a
whole batch at once (fast) and, only if that fails, call :func:`repair_span` on each span: just
the values that cannot be encoded are replaced — by a ``"[unencodable: <why>]"`` marker, or a
string with its bad characters replaced — in place (so every sink stores the same repaired
span) and counted in ``peekr.stats().unencodable_values``. The span and its neighbours are kept.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pydantic_core import to_json

from ._events import EvalResult, Event, Feedback
from ._span import Span

__all__ = [
    "SPAN_FIELDS",
    "dumps",
    "event_to_dict",
    "ensure_encodable",
    "event_to_json",
    "event_to_json_safe",
    "repair_event",
    "repair_span",
    "span_to_dict",
    "unencodable_count",
]

logger = logging.getLogger("peekr")

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


def event_to_json_safe(event: Event) -> bytes:
    """``event_to_json``; an event that fails to encode is repaired (:func:`repair_event`) first."""
    try:
        return event_to_json(event)
    except Exception:
        repair_event(event)
        return event_to_json(event)


def ensure_encodable(event: Event) -> None:
    """Repair ``event`` in place if it cannot be encoded (for sinks that encode field by field)."""
    try:
        event_to_json(event)
    except Exception:
        repair_event(event)


def repair_event(event: Event) -> int:
    """:func:`repair_span` for any event: an eval result's or feedback's bad values are replaced too."""
    if isinstance(event, Span):
        return repair_span(event)
    counter = [0]
    values = event.__dict__
    for field, value in list(values.items()):
        if not _encodes(value):
            values[field] = _rebuild(value, 1, set(), counter)
    if counter[0]:
        _count(f"{type(event).__name__} of span {values.get('span_id')}", counter[0])
    return counter[0]


#: Nesting kept when a value is rebuilt (well under the encoder's limit of ~254 levels).
MAX_DEPTH = 64
_lock = threading.Lock()
_replaced = 0
_warned = False


def unencodable_count() -> int:
    """Values replaced by :func:`repair_span` since the process started."""
    return _replaced


def repair_span(span: Span) -> int:
    """Replace, in place, the values of ``span`` that cannot be encoded; return how many.

    Each top-level attribute that fails to encode is rebuilt: containers keep their encodable
    items (cycles and nesting past ``MAX_DEPTH`` become markers), strings lose their unencodable
    characters, other objects become ``"[unencodable: <error>]"``. Text fields (``name``...)
    are cleaned the same way.
    """
    counter = [0]
    values = span.__dict__
    for field in ("name", "tenant_id", "parent_id", "start_time", "end_time", "status", "retention_class"):
        value = values.get(field)
        if isinstance(value, str) and not _encodes(value):
            values[field] = _rebuild(value, 0, set(), counter)
    attributes: dict[Any, Any] = span.attributes  # type: ignore[assignment]
    if not isinstance(attributes, dict):
        values["attributes"] = {"attributes": _rebuild(attributes, 1, set(), counter)}
    else:
        for key, value in list(attributes.items()):
            if not _encodes({key: value}):
                clean_key = key if isinstance(key, str) and _encodes(key) else _clean_key(key, counter)
                if clean_key != key:
                    del attributes[key]
                attributes[clean_key] = _rebuild(value, 1, set(), counter)
    if counter[0]:
        _count(f"span {str(values.get('name'))[:100]!r}", counter[0])
    return counter[0]


def _encodes(value: Any) -> bool:
    try:
        dumps(value)
    except Exception:
        return False
    return True


def _rebuild(value: Any, depth: int, path: set[int], counter: list[int]) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        if _encodes(value):
            return value
        counter[0] += 1
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, (dict, list, tuple)):
        if id(value) in path:
            counter[0] += 1
            return "[unencodable: circular reference]"
        if depth >= MAX_DEPTH:
            counter[0] += 1
            return f"[unencodable: nested deeper than {MAX_DEPTH} levels]"
        path.add(id(value))
        try:
            if isinstance(value, dict):
                return {
                    (k if isinstance(k, str) and _encodes(k) else _clean_key(k, counter)): _rebuild(
                        v, depth + 1, path, counter
                    )
                    for k, v in list(value.items())
                }
            return [_rebuild(item, depth + 1, path, counter) for item in value]
        finally:
            path.discard(id(value))
    try:
        dumps(value)
    except Exception as exc:
        counter[0] += 1
        return f"[unencodable: {_short(exc)}]"
    return value


def _clean_key(key: Any, counter: list[int]) -> str:
    if isinstance(key, (int, float, bool)) or key is None:
        return str(key)
    cleaned = _rebuild(key if isinstance(key, str) else _str_or_marker(key), 0, set(), counter)
    return str(cleaned)


def _str_or_marker(value: Any) -> str:
    try:
        return str(value)
    except Exception as exc:
        return f"[unencodable: {type(exc).__name__}]"


def _short(exc: BaseException) -> str:
    text = str(exc).removeprefix("Error serializing to JSON: ")
    return text[:200]


def _count(what: str, n: int) -> None:
    global _replaced, _warned
    with _lock:
        _replaced += n
        first, _warned = not _warned, True
    if first:
        logger.warning(
            "peekr: %s held %d value(s) that cannot be encoded as JSON; they were stored as "
            "'[unencodable: ...]' markers and the rest of the record kept (counted in "
            "peekr.stats().unencodable_values)",
            what,
            n,
        )
