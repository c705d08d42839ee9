"""W3C ``traceparent`` parsing: continue a trace started by another service.

``traceparent: 00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>``
(https://www.w3.org/TR/trace-context/#traceparent-header). Anything malformed is ignored (the
request starts a new trace), as the specification asks: an all-zero id, upper-case hex, a wrong
length, version ``ff``; a future version is read for its first four fields only.
"""

from __future__ import annotations

__all__ = ["parse_traceparent"]

_HEX = frozenset("0123456789abcdef")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def _is_hex(value: str) -> bool:
    return all(ch in _HEX for ch in value)


def parse_traceparent(value: bytes | str | None) -> tuple[str, str] | None:
    """``(trace_id, parent_span_id)`` from a ``traceparent`` header value, or None if invalid.

    Example:
        >>> parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        ('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7')
        >>> parse_traceparent("garbage") is None
        True
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    parts = value.strip().split("-")
    if len(parts) < 4:
        return None
    version, trace_id, span_id, flags = parts[0], parts[1], parts[2], parts[3]
    if len(version) != 2 or not _is_hex(version) or version == "ff":
        return None
    if version == "00" and len(parts) != 4:
        return None
    if len(trace_id) != 32 or len(span_id) != 16 or len(flags) != 2:
        return None
    if not (_is_hex(trace_id) and _is_hex(span_id) and _is_hex(flags)):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id
