"""Redaction of ``retention_class="pii"`` spans: an allow-list of what is known not to be content.

Runs in ``ActiveSpan.end`` on the caller's thread, before the span is published, so no sink,
exporter or evaluator ever sees the content. Everything not on the allow-list is replaced by
:data:`REDACTED` — so a field added later (by an integration or by the user) is redacted by
default instead of leaking. Kept:

- scalar attributes naming the call, not its content: model, provider, token counts, cost,
  timing, finish reason, ids (``response_id``, ``session_id``, ``user_id``), ``feature``, ``endpoint`` (a route
  template), ``experiment`` and ``experiment_variant``, HTTP method / route / status;
- ``request``: numbers and booleans (temperature, max_tokens, seed...), a few enumerated
  strings (``reasoning_effort``, ``service_tier``, a ``tool_choice`` mode...) and the tool
  names; stop sequences and every other string or structure are redacted;
- ``error``: the exception ``type`` (its message often quotes the prompt, so it is redacted);
- ``tool_calls``: each call's ``id``, ``type`` and ``name`` (the tool's name is the developer's);
  its ``arguments`` — often built from the prompt, a card number — are redacted;
- framework and vector-store spans: ``kind``, ``framework``, ``run_name`` (the developer's name for
  a chain, tool or graph node), ``langgraph_step``, ``collection``, ``db.operation``;
  ``retrieval``: ``top_k``, ``score_type``, ``documents_total`` and each document's ``id`` and
  ``score`` (the ``query``, each document's ``text`` and ``metadata`` are redacted);
  ``indexing`` (a count and record ids); ``agent_actions``: each action's ``tool`` name.
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
        "experiment",  # the developer's name for a peekr.experiment()
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "kind",
        "framework",
        "run_name",
        "langgraph_step",
        "collection",
        "db.operation",
    }
)
_REQUEST_STRINGS = frozenset(
    {"reasoning_effort", "service_tier", "truncation", "verbosity", "tool_choice", "include_usage", "type"}
)
_TOOL_CALL_KEYS = frozenset({"id", "type", "name"})
_RETRIEVAL_KEYS = frozenset({"top_k", "score_type", "documents_total"})
_DOCUMENT_KEYS = frozenset({"id", "score", "query_index"})
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
        elif key == "retrieval":
            attributes[key] = _retrieval(value)
        elif key == "indexing":
            attributes[key] = _kept(value, frozenset({"count", "ids"}))
        elif key == "agent_actions":
            attributes[key] = [_kept(a, frozenset({"tool"})) for a in value] if isinstance(value, list) else REDACTED
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


def _kept(value: Any, keys: frozenset[str]) -> Any:
    """A dict with only ``keys`` kept (scalars, or lists of scalars such as ids); the rest redacted."""
    if not isinstance(value, dict):
        return REDACTED
    out: dict[str, Any] = {}
    for k, v in value.items():
        safe = isinstance(v, (str, *_Scalar)) or (isinstance(v, list) and all(isinstance(i, (str, int)) for i in v))
        out[k] = v if k in keys and safe else REDACTED
    return out


def _retrieval(value: Any) -> Any:
    """``retrieval``: top_k, score type and the documents' ids and scores; query, text, metadata redacted."""
    if not isinstance(value, dict):
        return REDACTED
    out = _kept({k: v for k, v in value.items() if k != "documents"}, _RETRIEVAL_KEYS)
    documents = value.get("documents")
    if isinstance(documents, list):
        out["documents"] = [_kept(doc, _DOCUMENT_KEYS) for doc in documents]
    return out
