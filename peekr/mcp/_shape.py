"""What a tool returns: spans made safe (redacted, scrubbed, cut) and answers kept under a size budget."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .._capture import to_jsonable
from .._redact import redact_pii

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_ITEMS",
    "ToolArgumentError",
    "bounded",
    "check_limit",
    "safe_attributes",
    "span_brief",
    "trace_summaries",
    "waterfall",
]

#: No answer is longer than this many characters of JSON (items are left out, with a note).
MAX_ANSWER_CHARS = 40_000
#: No list in an answer has more items than this.
MAX_ITEMS = 100
#: Attributes shown in a one-line span summary (search results); I/O is cut at ``preview_chars``.
_BRIEF_KEYS = ("model", "provider", "tokens_input", "tokens_output", "tokens_total", "cost_usd", "ttft_ms",
               "finish_reason", "user_id", "session_id", "feature", "endpoint", "experiment_variant",
               "eval_scores", "error", "kind", "run_name")  # fmt: skip


class ToolArgumentError(ValueError):
    """A tool was called with a bad argument; the message says which and what is allowed."""


def check_limit(limit: int, maximum: int = MAX_ITEMS) -> int:
    """``limit`` if it is an int in ``1..maximum``, else a clear ``ToolArgumentError``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ToolArgumentError(f"limit must be an integer from 1 to {maximum}, got {limit!r}")
    return limit


def safe_attributes(span: dict[str, Any], max_chars: int) -> dict[str, Any]:
    """A copy of the span's attributes fit to show: ``pii`` spans redacted, secrets scrubbed, strings cut.

    A ``pii`` span stored by a process that ran with ``redact_pii=False`` is redacted here with the
    same allow-list as the recording pipeline (its numeric eval scores are kept); values under keys
    naming secrets become ``"[scrubbed]"``; each string is cut at ``max_chars`` with a visible marker.
    """
    attrs = span.get("attributes")
    attrs = copy.deepcopy(attrs) if isinstance(attrs, dict) else {}
    if span.get("retention_class") == "pii":
        scores = attrs.get("eval_scores")
        redact_pii(attrs)
        if isinstance(scores, dict):
            attrs["eval_scores"] = {
                str(k): v
                for k, v in scores.items()
                if v is None or isinstance(v, (int, float)) and not isinstance(v, bool)
            }
    shaped = to_jsonable(attrs, max_chars)
    return shaped if isinstance(shaped, dict) else {}


def span_brief(span: dict[str, Any], preview_chars: int = 300) -> dict[str, Any]:
    """One span as a short record: ids, name, timing, status and the attributes that explain it."""
    attrs = safe_attributes(span, preview_chars)
    out: dict[str, Any] = {
        "trace_id": span.get("trace_id"),
        "span_id": span.get("span_id"),
        "parent_id": span.get("parent_id"),
        "name": span.get("name"),
        "start_time": span.get("start_time"),
        "duration_ms": span.get("duration_ms"),
        "status": span.get("status"),
    }
    if span.get("tenant_id"):
        out["tenant_id"] = span["tenant_id"]
    out.update({k: attrs[k] for k in _BRIEF_KEYS if attrs.get(k) is not None})
    for key in ("input", "output"):
        if attrs.get(key) is not None:
            out[key] = _preview(attrs[key], preview_chars)
    return out


def _preview(value: Any, chars: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= chars else f"{text[:chars]}…[truncated {len(text) - chars} of {len(text)} chars]"


def _ts(value: Any) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def trace_summaries(spans: Sequence[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Group spans (newest first) into per-trace summaries, newest trace first, at most ``limit``."""
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        tid = str(span.get("trace_id"))
        if tid not in by_trace:
            if len(by_trace) >= limit:
                continue
            by_trace[tid] = []
        by_trace[tid].append(span)
    out = []
    for tid, members in by_trace.items():
        ids = {s.get("span_id") for s in members}
        roots = [s for s in members if s.get("parent_id") not in ids] or members
        root = min(roots, key=lambda s: str(s.get("start_time")))
        start = min(_ts(s.get("start_time")) for s in members)
        end = max(_ts(s.get("end_time")) for s in members)
        models = sorted({str(s["attributes"]["model"]) for s in members if (s.get("attributes") or {}).get("model")})
        costs = [(s.get("attributes") or {}).get("cost_usd") for s in members]
        out.append(
            {
                "trace_id": tid,
                "root": root.get("name"),
                "start_time": root.get("start_time"),
                "duration_ms": round(max(0.0, end - start) * 1000, 1),
                "spans": len(members),
                "errors": sum(1 for s in members if s.get("status") == "error"),
                "status": "error" if any(s.get("status") == "error" for s in members) else "ok",
                "models": models,
                "tokens": int(sum(_number((s.get("attributes") or {}).get("tokens_total")) for s in members)),
                "cost_usd": round(sum(_number(c) for c in costs), 6) if any(c is not None for c in costs) else None,
            }
        )
    return out


def waterfall(spans: Sequence[dict[str, Any]], io_chars: int) -> list[dict[str, Any]]:
    """Spans of one trace depth-first (parents before children), each with its offset, depth and I/O."""
    if not spans:
        return []
    t0 = min(_ts(s.get("start_time")) for s in spans)
    ids = {s.get("span_id") for s in spans}
    children: dict[Any, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span.get("parent_id") if span.get("parent_id") in ids else None
        children.setdefault(parent, []).append(span)
    rows: list[dict[str, Any]] = []
    stack = [(0, s) for s in sorted(children.get(None, []), key=lambda s: str(s.get("start_time")), reverse=True)]
    while stack:
        depth, span = stack.pop()
        attrs = safe_attributes(span, io_chars)
        row = {
            "depth": depth,
            "offset_ms": round((_ts(span.get("start_time")) - t0) * 1000, 1),
            "span_id": span.get("span_id"),
            "parent_id": span.get("parent_id"),
            "name": span.get("name"),
            "duration_ms": span.get("duration_ms"),
            "status": span.get("status"),
            "retention_class": span.get("retention_class"),
            "attributes": attrs,
        }
        rows.append(row)
        kids = sorted(children.get(span.get("span_id"), []), key=lambda s: str(s.get("start_time")))
        stack.extend((depth + 1, kid) for kid in reversed(kids))
    return rows


def bounded(answer: dict[str, Any], items_key: str, budget: int = MAX_ANSWER_CHARS) -> dict[str, Any]:
    """``answer`` with items of ``answer[items_key]`` left out from the end until its JSON fits ``budget``.

    What was left out is said in ``answer["truncated"]`` (with how many items), never silently.
    """
    items = answer.get(items_key)
    if not isinstance(items, list):
        return answer
    size = _size(answer)
    if size <= budget:
        return answer
    kept = list(items)
    sizes = [_size(item) + 2 for item in kept]
    while kept and size > budget - 200:
        kept.pop()
        size -= sizes.pop()
    while kept and _size({**answer, items_key: kept, "truncated": "x" * 160}) > budget:
        kept.pop()  # the estimate above measured items outside their indentation
    left_out = len(items) - len(kept)
    answer[items_key] = kept
    note = f"{left_out} of {len(items)} {items_key} left out to keep the answer under {budget:,} characters"
    previous = answer.get("truncated")
    answer["truncated"] = f"{previous}; {note}" if previous else note
    return answer


def _size(value: Any) -> int:
    """Characters of ``value`` as the MCP SDK sends it in a tool's text content (indented JSON)."""
    return len(json.dumps(value, ensure_ascii=False, default=str, indent=2))
