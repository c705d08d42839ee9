"""The one small storage interface the collector needs, and helpers both backends share.

Two implementations: ``SQLiteStore`` (embedded default, reuses the local ``traces.db`` schema)
and ``PostgresStore`` (asyncpg; several collector processes share one database). Every query
method takes the tenant first: there is no way to read across tenants through this interface.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from .._events import EvalResult, Feedback
from .._span import Span
from ._keys import ApiKey

__all__ = [
    "experiment_span",
    "AGGREGATE_GROUPS",
    "INTERVALS",
    "WORST_METRICS",
    "AggregateQuery",
    "IngestCounts",
    "OTHER_GROUP",
    "Store",
    "TEXT_SCAN_LIMIT",
    "TracePage",
    "aggregate_row",
    "feedback_row",
    "histogram",
    "trace_summary",
    "TraceFilter",
    "format_time",
    "parse_time",
    "percentile",
    "record_key",
]

#: Columns the aggregate endpoint can group by (all are span attributes except ``name``).
AGGREGATE_GROUPS: tuple[str, ...] = ("model", "name", "feature", "endpoint", "provider", "user_id")
INTERVALS: tuple[str, ...] = ("minute", "hour", "day")
#: Worst-offender rankings: lowest eval score first, or highest latency / cost / tokens first.
WORST_METRICS: tuple[str, ...] = ("hallucination", "latency", "cost", "tokens")


@dataclass(frozen=True)
class IngestCounts:
    """What one ingest call did."""

    stored: int
    duplicates: int


@dataclass(frozen=True)
class TraceFilter:
    """Trace list filters: a trace matches when any of its spans matches all given fields."""

    name: str | None = None  # prefix match: "openai.chat" selects openai.chat.completions
    model: str | None = None
    status: str | None = None
    feature: str | None = None
    endpoint: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    since: str | None = None  # canonical times (see format_time), inclusive
    until: str | None = None  # exclusive
    experiment_variant: str | None = None
    text: str | None = None  # case-insensitive substring of the span's input or output
    metric: str = "hallucination"  # the eval score min_score / max_score bound (its latest value)
    min_score: float | None = None  # inclusive
    max_score: float | None = None  # inclusive


#: Spans a text search reads per request on SQLite before it answers with what it found so far
#: and a cursor to continue from (see ``TracePage.resume``): a rare word cannot scan a whole database.
TEXT_SCAN_LIMIT = 10_000


@dataclass(frozen=True)
class TracePage:
    """What ``Store.list_traces`` returns: summaries, and where a bounded scan stopped.

    ``resume`` is the (start_time, trace_id) position a text search stopped at before it filled
    the page (SQLite reads at most ``TEXT_SCAN_LIMIT`` spans per request); the next page continues
    from there. None when the page is full or the walk reached the end.
    """

    rows: list[dict[str, Any]]
    resume: tuple[str, str] | None = None


@dataclass(frozen=True)
class AggregateQuery:
    """One aggregates request: spans started in [since, until), bucketed and grouped."""

    since: str
    until: str
    group_by: str | None
    interval: str | None
    top: int | None = None  # keep the groups with the most calls in the window; the rest sum into OTHER_GROUP


#: The group the aggregates of every group beyond ``AggregateQuery.top`` are summed into.
OTHER_GROUP = "(other)"


class Store(Protocol):
    """Collector storage. Methods are coroutines run on the server's event loop (asyncio)."""

    async def open(self) -> None:
        """Connect and migrate the schema forward."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    async def create_key(self, key: ApiKey) -> None:
        """Store a new key record."""
        ...

    async def take_token(self, key: str, rate: float, burst: int) -> float:
        """Take one token from ``key``'s bucket (``rate`` per second, at most ``burst``), kept in the
        database so every collector process shares it; 0 if granted, else seconds to wait."""
        ...

    async def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not."""
        ...

    async def revoke_key(self, key_id: str) -> bool:
        """Revoke at once; False if there is no such active key."""
        ...

    async def list_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        """All keys, or one tenant's."""
        ...

    async def ingest(
        self,
        tenant_id: str,
        spans: Sequence[Span],
        evals: Sequence[tuple[EvalResult, str]],
        feedback: Sequence[tuple[Feedback, str]],
    ) -> IngestCounts:
        """Store validated records (eval results and feedback with their dedupe keys) idempotently."""
        ...

    async def list_traces(
        self, tenant_id: str, filt: TraceFilter, limit: int, cursor: tuple[str, str] | None
    ) -> TracePage:
        """Trace summaries, newest first, after the (start_time, trace_id) cursor."""
        ...

    async def resolve_trace_id(self, tenant_id: str, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` full trace ids of this tenant starting with ``prefix`` (lowercase hex), sorted."""
        ...

    async def get_trace(
        self, tenant_id: str, trace_id: str
    ) -> tuple[list[dict[str, Any]], list[EvalResult], list[dict[str, Any]]]:
        """The trace's spans (unmerged), its eval results (oldest first) and its feedback."""
        ...

    async def aggregates(self, tenant_id: str, query: AggregateQuery) -> list[dict[str, Any]]:
        """Calls, tokens, cost, errors and latency percentiles per (bucket, group)."""
        ...

    async def score_histogram(
        self, tenant_id: str, metric: str, bins: int, since: str, until: str
    ) -> tuple[list[int], int, float | None]:
        """Counts per equal-width bin over [0, 1], the number of null scores, and the mean."""
        ...

    async def worst(self, tenant_id: str, metric: str, limit: int, since: str, until: str) -> list[dict[str, Any]]:
        """Spans ranked worst first by ``metric`` (see WORST_METRICS), with their ``value``."""
        ...

    async def list_feedback(
        self, tenant_id: str, rating: str | None, limit: int, before: tuple[str, str] | None
    ) -> list[dict[str, Any]]:
        """Feedback rows, newest first, before the (created_at, id) cursor."""
        ...

    async def experiment_spans(
        self, tenant_id: str, since: str, until: str, limit: int, experiment: str | None = None
    ) -> list[dict[str, Any]]:
        """Model-call spans of experiments (of ``experiment`` only, if given), newest first, at most
        ``limit``: ``trace_id``, ``span_id``, ``status``, ``duration_ms`` and ``attributes`` with the
        latest ``eval_scores`` merged in (what ``peekr.store._compare.compare_spans`` reads)."""
        ...

    async def purge(self, retention_days: Mapping[str, float], now: datetime) -> int:
        """Delete spans older than their class allows (with their eval results); return spans deleted."""
        ...


def parse_time(value: str) -> datetime:
    """Parse an ISO-8601 timestamp; naive values are taken as UTC.

    Raises:
        ValueError: not a timestamp, or one outside years 1-9999 once converted to UTC.
    """
    if not isinstance(value, str) or not 10 <= len(value) <= 40 or not value.isascii():
        raise ValueError(f"{value!r} is not an ISO-8601 timestamp")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{value!r} cannot be represented in UTC (years 0001 to 9999)") from None


def format_time(dt: datetime) -> str:
    """The canonical form stored and returned: ``2026-11-27T09:21:10.123456Z`` (sorts as text).

    The year always has four digits (``strftime('%Y')`` writes year 999 as ``999``).
    """
    u = dt.astimezone(timezone.utc)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"


def record_key(record: EvalResult | Feedback) -> str:
    """Dedupe key of an eval result or feedback record: a hash of its canonical JSON.

    A retried batch carries byte-identical records, so the same record is stored once.
    """
    payload = json.dumps(record.model_dump(mode="json", exclude={"tenant_id"}), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation percentile (PostgreSQL's ``percentile_cont``) of sorted values."""
    if not sorted_values:
        return None
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def trace_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """Shape one trace summary row the same way for both backends."""
    calls = int(row["span_count"])
    errors = int(row["error_count"] or 0)
    return {
        "trace_id": row["trace_id"],
        "name": row["root_name"],
        "start_time": row["start_time"],
        "end_time": row["end_time"],
        "duration_ms": _ms_between(row["start_time"], row["end_time"]),
        "span_count": calls,
        "error_count": errors,
        "status": "error" if errors else "ok",
        "tokens_total": int(row["tokens_total"] or 0),
        "cost_usd": float(row["cost_usd"]) if row["cost_usd"] is not None else None,
        "models": sorted(m for m in (row["models"] or "").split(",") if m),
    }


def _ms_between(start: str, end: str) -> float:
    return round((parse_time(end) - parse_time(start)).total_seconds() * 1000, 3)


def feedback_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Shape one feedback row for the API."""
    return {k: row[k] for k in ("id", "trace_id", "span_id", "rating", "score", "note", "created_at")}


def aggregate_row(row: dict[str, Any], p50: float | None, p95: float | None, p99: float | None) -> dict[str, Any]:
    """Shape one aggregate row (``bucket``, ``grp`` and sums) for the API."""
    calls = int(row["calls"])
    errors = int(row["errors"] or 0)
    return {
        "bucket": row["bucket"],
        "group": row["grp"],
        "calls": calls,
        "errors": errors,
        "error_rate": errors / calls if calls else 0.0,
        "tokens_input": int(row["tokens_input"] or 0),
        "tokens_output": int(row["tokens_output"] or 0),
        "tokens_total": int(row["tokens_total"] or 0),
        "cost_usd": float(row["cost_usd"]) if row["cost_usd"] is not None else None,
        "avg_ms": float(row["avg_ms"]) if row["avg_ms"] is not None else None,
        "p50_ms": _round(p50),
        "p95_ms": _round(p95),
        "p99_ms": _round(p99),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def histogram(scores: Sequence[Any], bins: int) -> tuple[list[int], int, float | None]:
    """Equal-width bins over [0, 1] (1.0 falls in the last bin), the null count and the mean."""
    counts = [0] * bins
    nulls = 0
    values: list[float] = []
    for score in scores:
        if score is None:
            nulls += 1
            continue
        value = min(max(float(score), 0.0), 1.0)
        values.append(value)
        counts[min(int(value * bins), bins - 1)] += 1
    return counts, nulls, (sum(values) / len(values) if values else None)


def experiment_span(row: dict[str, Any], scores: dict[str, Any]) -> dict[str, Any]:
    """A row of ``experiment_spans``: attributes decoded, the latest scores as ``eval_scores``."""
    attributes = row["attributes"]
    attributes = json.loads(attributes) if isinstance(attributes, str) else dict(attributes or {})
    if scores:
        attributes["eval_scores"] = {**(attributes.get("eval_scores") or {}), **scores}
    return {
        "trace_id": row["trace_id"],
        "span_id": row["span_id"],
        "status": row["status"],
        "duration_ms": row["duration_ms"],
        "attributes": attributes,
    }
