"""Redaction of ``retention_class="pii"`` spans: an allow-list of what is known not to be content.

Runs in ``ActiveSpan.end`` on the caller's thread, before the span is published, so no sink,
exporter or evaluator ever sees the content. Everything not on the allow-list is replaced by
:data:`REDACTED` — so a field added later (by an integration or by the user) is redacted by
default instead of leaking. Kept:

- scalar attributes naming the call, not its content: model, provider, token counts, cost,
  timing, finish reason, ids (``response_id``, ``session_id``, ``user_id``), ``feature``, ``endpoint`` (a route
  template), HTTP method / route / status;
- ``request``: numbers and booleans (temperature, max_tokens, seed...), a few enumerated
  strings (``reasoning_effort``, ``service_tier``, a ``tool_choice`` mode...) and the tool
  names; stop sequences and every other string or structure are redacted;
- ``error``: the exception ``type`` (its message often quotes the prompt, so it is redacted);
- ``tool_calls``: each call's ``id``, ``type`` and ``name`` (the tool's name is the developer's);
  its ``arguments`` — often built from the prompt, a card number — are redacted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REDACTED", "redact_pii"]

REDACTED = "[redacted: retention_class=pii]"

_SCALARS = frozenset(
    {
        "model",
        "provider",
        "tokens_input",
        "tokens_output",
        "tokens_total",
        "tokens_cache_read",
        "tokens_cache_write",
        "tokens_reasoning",
        "cost_usd",
        "ttft_ms",
        "finish_reason",
        "response_id",
        "stream",
        "session_id",
        "user_id",
        "feature",
        "endpoint",
        "experiment_variant",
        "http.request.method",
        "http.route",
        "http.response.status_code",
    }
)
_REQUEST_STRINGS = frozenset(
    {"reasoning_effort", "service_tier", "truncation", "verbosity", "tool_choice", "include_usage", "type"}
)
_TOOL_CALL_KEYS = frozenset({"id", "type", "name"})
_Scalar = (bool, int, float, type(None))


def redact_pii(attributes: dict[str, Any]) -> None:
    """Replace, in place, every attribute value of a ``pii`` span that may hold content."""
    for key, value in attributes.items():
        if key in _SCALARS:
            if not isinstance(value, (str, *_Scalar)):
                attributes[key] = REDACTED
        elif key == "request":
            attributes[key] = _request(value)
        elif key == "error":
            attributes[key] = {"type": value.get("type"), "message": REDACTED} if isinstance(value, dict) else REDACTED
        elif key == "tool_calls":
            attributes[key] = _tool_calls(value)
        else:
            attributes[key] = REDACTED


def _request(value: Any, depth: int = 0) -> Any:
    if not isinstance(value, dict) or depth > 2:
        return REDACTED
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, _Scalar):
            out[key] = item
        elif isinstance(item, str) and key in _REQUEST_STRINGS:
            out[key] = item
        elif key == "tools" and isinstance(item, list) and all(isinstance(name, (str, type(None))) for name in item):
            out[key] = item  # tool names, as the integrations record them
        elif isinstance(item, dict):
            out[key] = _request(item, depth + 1)  # e.g. stream_options, thinking: numbers kept
        else:
            out[key] = REDACTED
    return out


def _tool_calls(value: Any) -> Any:
    if not isinstance(value, list):
        return REDACTED
    return [
        {k: (v if k in _TOOL_CALL_KEYS and isinstance(v, (str, *_Scalar)) else REDACTED) for k, v in call.items()}
        if isinstance(call, dict)
        else REDACTED
        for call in value
    ]
