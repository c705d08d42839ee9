"""The read API: every endpoint needs a ``read`` key and sees only that key's tenant."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from .._events import merge_eval_result
from ._cursor import decode_cursor, encode_cursor
from ._errors import ApiError
from ._models import (
    AggregateRow,
    Aggregates,
    FeedbackItem,
    FeedbackList,
    HistogramBin,
    ScoreDistribution,
    TraceDetail,
    TraceList,
    TraceSummary,
    WorstItem,
    WorstList,
)
from ._state import require, state_of
from ._store import OTHER_GROUP, TEXT_SCAN_LIMIT, AggregateQuery, TraceFilter, format_time, parse_time
from ._wire import ErrorBody

__all__ = ["router"]

router = APIRouter(
    tags=["query"],
    responses={
        400: {"model": ErrorBody, "description": "Bad query parameter."},
        401: {"model": ErrorBody, "description": "Missing, invalid or revoked API key."},
        403: {"model": ErrorBody, "description": "The key lacks the 'read' scope."},
        429: {
            "model": ErrorBody,
            "description": "Rate limit for this key, or too many failed authentications from this address; wait Retry-After.",
        },
    },
)

_METRIC = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_Q_MIN, _Q_MAX = 3, 200
#: Most time buckets an aggregates answer has (per group): wider windows get a coarser interval.
MAX_BUCKETS = 200
#: Groups an aggregates answer keeps by default; the others are summed into OTHER_GROUP.
DEFAULT_TOP = 10
_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_ID32 = re.compile(r"^[0-9a-f]{32}$")
_DATE_TIME = {"format": "date-time"}
Since = Query(
    None, description="ISO-8601 start, inclusive (default: 24 hours before until).", json_schema_extra=_DATE_TIME
)
Until = Query(None, description="ISO-8601 end, exclusive (default: now).", json_schema_extra=_DATE_TIME)


def _time(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return format_time(parse_time(value))
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name}={value!r} is not an ISO-8601 timestamp") from None


def _window(since: str | None, until: str | None) -> tuple[str, str]:
    end = _time("until", until) or format_time(datetime.now(timezone.utc))
    try:
        start = _time("since", since) or format_time(parse_time(end) - timedelta(hours=24))
    except OverflowError:
        raise ApiError(400, "invalid_parameter", f"until={until!r} leaves no 24-hour window; pass since") from None
    if start >= end:
        raise ApiError(400, "invalid_parameter", f"since={start} must be before until={end}")
    return start, end


@router.get("/v1/traces", response_model=TraceList, summary="List traces, newest first")
async def list_traces(
    request: Request,
    name: str | None = Query(None, description="Span name prefix, e.g. 'openai.chat'."),
    model: str | None = None,
    status: Literal["ok", "error"] | None = None,
    feature: str | None = None,
    endpoint: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    experiment_variant: str | None = Query(None, description="The span attribute experiment_variant, exactly."),
    q: str | None = Query(
        None,
        description=f"Text search: a span whose input or output contains this ({_Q_MIN}-{_Q_MAX} characters; "
        "ASCII letters match either case). On SQLite (and PostgreSQL with --text-search scan) a request reads at most "
        f"{TEXT_SCAN_LIMIT:,} spans: a short page with a next_cursor means 'keep looking'.",
    ),
    metric: str = Query("hallucination", description="The eval score min_score / max_score apply to."),
    min_score: float | None = Query(None, ge=0, le=1, description="Latest score of metric >= this (0-1)."),
    max_score: float | None = Query(None, ge=0, le=1, description="Latest score of metric <= this (0-1)."),
    since: str | None = Query(None, description="ISO-8601, inclusive.", json_schema_extra=_DATE_TIME),
    until: str | None = Query(None, description="ISO-8601, exclusive.", json_schema_extra=_DATE_TIME),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, description="next_cursor of the previous page."),
) -> TraceList:
    """Traces with at least one span matching every filter given."""
    principal = await require(request, "read")
    filters = {"name": name, "model": model, "feature": feature, "endpoint": endpoint, "user_id": user_id,
               "session_id": session_id, "experiment_variant": experiment_variant, "q": q}  # fmt: skip
    for field, value in filters.items():
        if value is not None and "\x00" in value:
            raise ApiError(400, "invalid_parameter", f"{field} must not contain a NUL character")
    if q is not None and not _Q_MIN <= len(q.strip()) <= _Q_MAX:
        raise ApiError(400, "invalid_parameter", f"q must be {_Q_MIN} to {_Q_MAX} characters (got {len(q.strip())})")
    if not _METRIC.match(metric):
        raise ApiError(400, "invalid_parameter", f"metric={metric!r} must match {_METRIC.pattern}")
    if min_score is not None and max_score is not None and min_score > max_score:
        raise ApiError(400, "invalid_parameter", f"min_score={min_score} is above max_score={max_score}")
    filt = TraceFilter(
        name=name, model=model, status=status, feature=feature, endpoint=endpoint, user_id=user_id,
        session_id=session_id, since=_time("since", since), until=_time("until", until),
        experiment_variant=experiment_variant, text=q.strip() if q else None, metric=metric,
        min_score=min_score, max_score=max_score,
    )  # fmt: skip
    found = await state_of(request).store.list_traces(
        principal.tenant_id, filt, limit + 1, decode_cursor(cursor, "trace")
    )
    page, more = found.rows[:limit], len(found.rows) > limit
    next_cursor = encode_cursor(page[-1]["sort_key"], page[-1]["trace_id"]) if more else None
    if next_cursor is None and found.resume is not None:
        next_cursor = encode_cursor(*found.resume)
    return TraceList(traces=[TraceSummary(**r) for r in page], next_cursor=next_cursor)


@router.get(
    "/v1/traces/{trace_id}",
    response_model=TraceDetail,
    summary="One trace with all its spans",
    responses={404: {"model": ErrorBody, "description": "No such trace for this tenant."}},
)
async def get_trace(request: Request, trace_id: str) -> TraceDetail:
    """All spans of a trace, eval results merged into ``attributes.eval_scores`` and friends."""
    principal = await require(request, "read")
    if not _ID32.match(trace_id):
        raise ApiError(400, "invalid_parameter", f"trace_id={trace_id!r} must be 32 lowercase hex characters")
    spans, results, feedback = await state_of(request).store.get_trace(principal.tenant_id, trace_id)
    if not spans and not results and not feedback:
        raise ApiError(404, "not_found", f"trace {trace_id} not found")
    by_span: dict[str, dict[str, Any]] = {s["span_id"]: s for s in spans}
    for result in results:
        span = by_span.get(result.span_id)
        if span is not None:
            merge_eval_result(span["attributes"], result)
    return TraceDetail(
        trace_id=trace_id,
        spans=spans,
        eval_results=[r.model_dump(mode="json") for r in results],
        feedback=[FeedbackItem(**f) for f in feedback],
    )


@router.get("/v1/stats/aggregates", response_model=Aggregates, summary="Calls, tokens, cost, latency over time")
async def aggregates(
    request: Request,
    group_by: Literal["model", "name", "feature", "endpoint", "provider", "user_id", "tenant"] | None = Query(
        None, description="tenant: only with peekr ui (a collector key sees one tenant)."
    ),
    interval: Literal["minute", "hour", "day"] | None = Query(
        None,
        description=f"Bucket size. A window of more than {MAX_BUCKETS} buckets is answered with the next "
        "coarser interval (minute -> hour -> day); the answer's interval says which.",
    ),
    top: int = Query(
        DEFAULT_TOP,
        ge=1,
        le=100,
        description=f"Groups kept (most calls first); the rest are summed into {OTHER_GROUP!r}.",
    ),
    since: str | None = Since,
    until: str | None = Until,
) -> Aggregates:
    """Per (time bucket, group): calls, errors, error rate, tokens, cost and p50/p95/p99 latency."""
    principal = await require(request, "read")
    state = state_of(request)
    if group_by == "tenant" and not state.open_access:
        raise ApiError(400, "invalid_parameter", "group_by=tenant is only for peekr ui: a key sees one tenant")
    start, end = _window(since, until)
    used = coarsen(interval, start, end)
    query = AggregateQuery(start, end, group_by, used, top if group_by else None)
    rows = await state.store.aggregates(principal.tenant_id, query)
    return Aggregates(since=start, until=end, interval=used, group_by=group_by, rows=[AggregateRow(**r) for r in rows])


def coarsen(interval: str | None, since: str, until: str) -> str | None:
    """``interval``, or the next coarser one while the window holds more than ``MAX_BUCKETS`` buckets."""
    span = (parse_time(until) - parse_time(since)).total_seconds()
    while interval is not None and interval != "day" and span / _SECONDS[interval] > MAX_BUCKETS:
        interval = {"minute": "hour", "hour": "day"}[interval]
    return interval


@router.get("/v1/stats/scores", response_model=ScoreDistribution, summary="Eval score distribution")
async def score_distribution(
    request: Request,
    metric: str = Query("hallucination", description="Eval score name (1.0 = every claim supported)."),
    bins: int = Query(10, ge=1, le=100),
    since: str | None = Since,
    until: str | None = Until,
) -> ScoreDistribution:
    """Histogram of the latest ``metric`` score of each span started in the window."""
    principal = await require(request, "read")
    if not _METRIC.match(metric):
        raise ApiError(400, "invalid_parameter", f"metric={metric!r} must match {_METRIC.pattern}")
    start, end = _window(since, until)
    counts, nulls, mean = await state_of(request).store.score_histogram(principal.tenant_id, metric, bins, start, end)
    return ScoreDistribution(
        metric=metric,
        since=start,
        until=end,
        count=sum(counts),
        null_count=nulls,
        mean=mean,
        bins=[HistogramBin(lower=i / bins, upper=(i + 1) / bins, count=c) for i, c in enumerate(counts)],
    )


@router.get("/v1/stats/worst", response_model=WorstList, summary="Worst offenders")
async def worst(
    request: Request,
    metric: Literal["hallucination", "latency", "cost", "tokens"] = Query(
        "hallucination", description="hallucination: lowest score first; latency/cost/tokens: highest first."
    ),
    limit: int = Query(20, ge=1, le=500),
    since: str | None = Since,
    until: str | None = Until,
) -> WorstList:
    """The spans that did worst on ``metric`` in the window."""
    principal = await require(request, "read")
    start, end = _window(since, until)
    rows = await state_of(request).store.worst(principal.tenant_id, metric, limit, start, end)
    return WorstList(metric=metric, items=[WorstItem(**r) for r in rows])


@router.get("/v1/feedback", response_model=FeedbackList, summary="Feedback, newest first")
async def list_feedback(
    request: Request,
    rating: Literal["good", "bad"] | None = None,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> FeedbackList:
    """Human feedback on this tenant's traces."""
    principal = await require(request, "read")
    before = decode_cursor(cursor, "feedback")
    rows = await state_of(request).store.list_feedback(principal.tenant_id, rating, limit + 1, before)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1]["created_at"], str(page[-1]["id"])) if more else None
    return FeedbackList(feedback=[FeedbackItem(**r) for r in page], next_cursor=next_cursor)
