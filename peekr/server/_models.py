"""Response models of the query API (they document the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "AggregateRow",
    "Aggregates",
    "FeedbackItem",
    "FeedbackList",
    "HistogramBin",
    "ScoreDistribution",
    "TraceDetail",
    "TraceList",
    "TraceSummary",
    "WorstItem",
    "WorstList",
]


class TraceSummary(BaseModel):
    """One trace in a list."""

    trace_id: str
    name: str | None = Field(description="Name of the root span (or the earliest span).")
    start_time: str
    end_time: str
    duration_ms: float
    span_count: int
    error_count: int
    status: str
    tokens_total: int
    cost_usd: float | None
    models: list[str]


class TraceList(BaseModel):
    """A page of traces, newest first."""

    traces: list[TraceSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class FeedbackItem(BaseModel):
    """One feedback record."""

    id: int
    trace_id: str
    span_id: str | None
    rating: str | None
    score: float | None
    note: str | None
    created_at: str


class TraceDetail(BaseModel):
    """One trace: its spans with eval results merged into their attributes."""

    trace_id: str
    spans: list[dict[str, Any]] = Field(description="Spans (DESIGN.md), oldest first, eval scores merged.")
    eval_results: list[dict[str, Any]] = Field(description="The raw evaluation records, oldest first.")
    feedback: list[FeedbackItem]


class AggregateRow(BaseModel):
    """Totals and latency percentiles for one (time bucket, group)."""

    bucket: str | None = Field(description="Bucket start (UTC), or null without ?interval=.")
    group: str | None = Field(description="Value of the group_by field, null when absent.")
    calls: int
    errors: int
    error_rate: float
    tokens_input: int
    tokens_output: int
    tokens_total: int
    cost_usd: float | None
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Aggregates(BaseModel):
    """Aggregates over [since, until)."""

    since: str
    until: str
    interval: str | None
    group_by: str | None
    rows: list[AggregateRow]


class HistogramBin(BaseModel):
    """Scores in [lower, upper) (the last bin includes 1.0)."""

    lower: float
    upper: float
    count: int


class ScoreDistribution(BaseModel):
    """Distribution of the latest score per span for one metric."""

    metric: str
    since: str
    until: str
    count: int = Field(description="Spans with a numeric score.")
    null_count: int = Field(description="Spans evaluated without a score (e.g. no claims or no context).")
    mean: float | None
    bins: list[HistogramBin]


class WorstItem(BaseModel):
    """A span and the value it was ranked by."""

    span_id: str
    trace_id: str
    name: str
    model: str | None
    start_time: str
    duration_ms: float
    status: str
    value: float


class WorstList(BaseModel):
    """Worst offenders first."""

    metric: str
    items: list[WorstItem]


class FeedbackList(BaseModel):
    """A page of feedback, newest first."""

    feedback: list[FeedbackItem]
    next_cursor: str | None
