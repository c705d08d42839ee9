"""The MCP tools over a ``Source``: each answer is a JSON-safe dict, bounded and redacted."""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ._shape import (
    MAX_ANSWER_CHARS,
    MAX_ITEMS,
    ToolArgumentError,
    bounded,
    check_limit,
    safe_attributes,
    span_brief,
    trace_summaries,
    waterfall,
)
from ._source import Query, Source

__all__ = [
    "COST_GROUPS",
    "SCAN_SPANS",
    "compare_experiment",
    "cost_summary",
    "error_spans",
    "get_trace",
    "make_query",
    "recent_traces",
    "search_spans",
    "worst_scores",
]

#: How many of the newest matching spans a search, error or worst-score scan reads at most.
SCAN_SPANS = 5_000
COST_GROUPS: tuple[str, ...] = ("model", "feature", "endpoint", "user", "tenant", "day")  # peekr cost --by


def _time(name: str, value: str | None) -> str | None:
    """A canonical UTC timestamp (``...Z``) for an ISO-8601 argument, or a clear error."""
    if value is None or value == "":
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ToolArgumentError(f"{name}={value!r} is not an ISO-8601 time (e.g. 2026-12-03T10:00:00Z)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_query(
    *,
    name: str | None = None,
    model: str | None = None,
    status: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    feature: str | None = None,
    endpoint: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Query:
    """Check the filter arguments and build a ``Query``."""
    if status not in (None, "ok", "error"):
        raise ToolArgumentError(f"status must be 'ok' or 'error', got {status!r}")
    for label, value in (("name", name), ("model", model), ("user_id", user_id), ("session_id", session_id),
                         ("feature", feature), ("endpoint", endpoint)):  # fmt: skip
        if value is not None and ("\x00" in value or len(value) > 500):
            raise ToolArgumentError(f"{label} must be under 500 characters with no NUL character")
    start, end = _time("since", since), _time("until", until)
    if start is not None and end is not None and start >= end:
        raise ToolArgumentError(f"since={since!r} must be before until={until!r}")
    return Query(name or None, model or None, status, user_id, session_id, feature, endpoint, start, end)


async def recent_traces(source: Source, query: Query, limit: int) -> dict[str, Any]:
    """The newest traces with at least one matching span, each summarised."""
    check_limit(limit)
    spans, more = await source.spans(query, min(SCAN_SPANS, limit * 50))
    traces = trace_summaries(spans, limit)
    answer: dict[str, Any] = {"source": source.label, "traces": traces}
    if more and len(traces) < limit:
        answer["truncated"] = f"only the newest {len(spans):,} matching spans were read"
    return bounded(answer, "traces")


async def get_trace(source: Source, trace_id: str, include_io: bool, max_chars: int) -> dict[str, Any]:
    """One trace as a waterfall: spans depth-first with offsets, attributes and (optionally) I/O."""
    if not isinstance(trace_id, str) or not trace_id.strip() or len(trace_id) > 64:
        raise ToolArgumentError("trace_id must be a trace id or a unique prefix of one (hex)")
    if not all(ch in "0123456789abcdefABCDEF" for ch in trace_id.strip()):
        raise ToolArgumentError(f"trace_id={trace_id!r} must be hexadecimal (as `recent_traces` shows it)")
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or not 50 <= max_chars <= 10_000:
        raise ToolArgumentError(f"max_chars must be an integer from 50 to 10000, got {max_chars!r}")
    full, spans, feedback = await source.trace(trace_id.strip().lower())
    rows = waterfall(spans, max_chars)
    if not include_io:
        for row in rows:
            for key in ("input", "output", "request"):
                row["attributes"].pop(key, None)
    summary = trace_summaries(list(reversed(spans)), 1)
    answer: dict[str, Any] = {
        "source": source.label,
        "trace_id": full,
        "summary": summary[0] if summary else None,
        "feedback": [{k: f.get(k) for k in ("span_id", "rating", "score", "note", "created_at")} for f in feedback][
            :MAX_ITEMS
        ],
        "spans": rows[:MAX_ITEMS],
    }
    if len(rows) > MAX_ITEMS:
        answer["truncated"] = f"{len(rows) - MAX_ITEMS} of {len(rows)} spans left out (at most {MAX_ITEMS})"
    if isinstance(answer["feedback"], list):
        for item in answer["feedback"]:
            if isinstance(item.get("note"), str):
                item["note"] = safe_attributes({"attributes": {"note": item["note"]}}, max_chars)["note"]
    return bounded(answer, "spans")


async def search_spans(
    source: Source, query: Query, text: str | None, limit: int, preview_chars: int = 300
) -> dict[str, Any]:
    """Matching spans, newest first; ``text`` is searched case-insensitively in names and (redacted) attributes."""
    check_limit(limit)
    if text is not None and len(text) > 500:
        raise ToolArgumentError("text must be under 500 characters")
    needle = (text or "").casefold()
    spans, more = await source.spans(query, SCAN_SPANS if needle else limit)
    found: list[dict[str, Any]] = []
    hits = 0
    for span in spans:
        if needle:
            # Searched after redaction: a hit never reveals what a pii span's content held.
            haystack = str(span.get("name")) + json.dumps(safe_attributes(span, 100_000), ensure_ascii=False)
            if needle not in haystack.casefold():
                continue
        hits += 1
        if len(found) < limit:
            found.append(span_brief(span, preview_chars))
    answer: dict[str, Any] = {"source": source.label, "matched": hits, "spans": found}
    notes = []
    if hits > len(found):
        notes.append(f"{hits - len(found)} more matching spans not shown (limit={limit})")
    if more:
        notes.append(f"only the newest {len(spans):,} spans passing the filters were searched")
    if notes:
        answer["truncated"] = "; ".join(notes)
    return bounded(answer, "spans")


async def error_spans(source: Source, query: Query, limit: int) -> dict[str, Any]:
    """Spans with ``status="error"``, newest first, with their error type and message."""
    return await search_spans(source, dataclasses.replace(query, status="error"), None, limit, 500)


async def worst_scores(source: Source, query: Query, metric: str | None, limit: int) -> dict[str, Any]:
    """Spans with the lowest eval scores (``metric``, or each span's lowest score), lowest first."""
    check_limit(limit)
    if metric is not None and (
        not metric or len(metric) > 64 or not metric.replace("_", "").replace("-", "").isalnum()
    ):
        raise ToolArgumentError(f"metric must be an eval score name such as 'hallucination', got {metric!r}")
    spans, more = await source.spans(query, SCAN_SPANS)
    scored: list[tuple[float, str, dict[str, Any]]] = []
    seen_metrics: set[str] = set()
    for span in spans:
        scores = (span.get("attributes") or {}).get("eval_scores")
        if not isinstance(scores, dict):
            continue
        numbers = {
            str(k): float(v) for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        seen_metrics.update(numbers)
        if metric is not None:
            if metric in numbers:
                scored.append((numbers[metric], metric, span))
        elif numbers:
            name, value = min(numbers.items(), key=lambda kv: kv[1])
            scored.append((value, name, span))
    scored.sort(key=lambda item: (item[0], str(item[2].get("start_time"))))
    items = [{"score": value, "metric": name, **span_brief(span)} for value, name, span in scored[:limit]]
    answer: dict[str, Any] = {"source": source.label, "metric": metric, "scored_spans": len(scored), "spans": items}
    if metric is not None and not scored and seen_metrics:
        answer["note"] = f"no span has a {metric!r} score; scores seen: {', '.join(sorted(seen_metrics))}"
    if more:
        answer["truncated"] = f"only the newest {len(spans):,} spans passing the filters were read"
    return bounded(answer, "spans")


async def cost_summary(source: Source, query: Query, by: str, limit: int) -> dict[str, Any]:
    """Cost, calls and tokens per group, most expensive first; unpriced calls counted apart."""
    check_limit(limit)
    if by not in COST_GROUPS:
        raise ToolArgumentError(f"by must be one of {', '.join(COST_GROUPS)}, got {by!r}")
    result = await source.cost(query, by)
    rows = list(result.get("rows") or [])
    answer: dict[str, Any] = {"source": source.label, **result, "rows": rows[:limit]}
    if len(rows) > limit:
        answer["truncated"] = f"{len(rows) - limit} more groups not shown (limit={limit})"
    return bounded(answer, "rows")


CompareFn = Callable[[str, str], Any]


def _compare_function() -> CompareFn | None:
    try:
        module = importlib.import_module("peekr.store._compare")
    except ImportError:
        return None
    fn = getattr(module, "compare_experiment", None)
    return fn if callable(fn) else None


async def compare_experiment(source: Source, path: str | None, name: str) -> dict[str, Any]:
    """The variants of one experiment compared (``peekr.store._compare.compare_experiment``)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ToolArgumentError("name must be the experiment's name (1 to 200 characters)")
    fn = _compare_function()
    if fn is None:
        return {"source": source.label, "available": False,
                "note": "experiment comparison is not available in this peekr version"}  # fmt: skip
    if path is None:
        return {"source": source.label, "available": False,
                "note": "experiment comparison reads a local trace file; use `peekr mcp traces.db`"}  # fmt: skip
    import anyio.to_thread

    try:
        result = await anyio.to_thread.run_sync(fn, path, name.strip())
    except (ValueError, LookupError) as exc:  # an unknown experiment, too few spans...: the caller's to fix
        raise ToolArgumentError(str(exc)) from None
    data = result.to_dict() if callable(getattr(result, "to_dict", None)) else result
    shaped = safe_attributes({"attributes": dict(data)}, 2_000)
    answer: dict[str, Any] = {"source": source.label, "available": True, "comparison": shaped}
    if len(json.dumps(answer, default=str)) > MAX_ANSWER_CHARS:
        answer["comparison"] = {k: v for k, v in shaped.items() if not isinstance(v, (dict, list))}
        answer["truncated"] = (
            f"nested parts of the comparison left out to keep it under {MAX_ANSWER_CHARS:,} characters"
        )
    return answer
