"""Rollups maintained at ingest, shared by both stores: the arithmetic, not the SQL.

Spans are summed per tenant x grain (minute, hour, day) x bucket x dimension value, for each
dimension the aggregates endpoint groups by (and none: all spans); a stats query covers its window with the coarsest whole buckets that
fit, finer ones at the edges and the spans themselves for the partial minutes at either end, so
sums and counts are exact for any window. Latency percentiles come from a histogram with 8
log-spaced bins per octave: an estimate is within ``LATENCY_REL_ERROR`` (4.4 %) of the exact
``percentile_cont`` value. Eval scores are kept per distinct (clamped) value, so score histograms
stay exact for any bin count.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ._store import OTHER_GROUP, aggregate_row, format_time, parse_time

__all__ = [
    "DIMENSIONS",
    "GRAINS",
    "LATENCY_REL_ERROR",
    "NULL_SCORE",
    "Totals",
    "accumulate",
    "expand",
    "aggregate_rows",
    "cover",
    "latency_bin",
    "histogram_percentile",
    "merge_hist",
    "score_key",
    "top_values",
    "truncate",
]

#: Stored grains, coarsest first.
GRAINS: tuple[str, ...] = ("day", "hour", "minute")
#: What the aggregates endpoint groups by; each span is summed once per dimension (``""`` = all spans).
DIMENSIONS: tuple[str, ...] = ("", "model", "name", "feature", "endpoint", "provider", "user_id")
_BINS_PER_OCTAVE = 8
ZERO_BIN = -(10**6)  # durations <= 0 ms
#: Worst relative error of a latency percentile estimate: half a bin, 2**(1/16) - 1.
LATENCY_REL_ERROR = 2 ** (1 / (2 * _BINS_PER_OCTAVE)) - 1
#: Stored in place of a null score (scores are clamped to [0, 1]).
NULL_SCORE = -1.0
_GRAINS_FOR = {None: GRAINS, "day": GRAINS, "hour": GRAINS[1:], "minute": GRAINS[2:]}


def truncate(ts: str, grain: str) -> str:
    """Start of the bucket holding the canonical timestamp ``ts`` (also canonical)."""
    if grain == "minute":
        return ts[:16] + ":00.000000Z"
    if grain == "hour":
        return ts[:13] + ":00:00.000000Z"
    return ts[:10] + "T00:00:00.000000Z"


def _next(bucket: str, grain: str) -> str:
    step = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}[grain]
    try:
        return format_time(parse_time(bucket) + step)
    except OverflowError:
        return "9999-12-31T23:59:59.999999Z~"  # sorts after every timestamp


def cover(since: str, until: str, interval: str | None) -> list[tuple[str | None, str, str]]:
    """Split [since, until) into (grain, start, end) pieces; grain None means "read the spans".

    Pieces never cross a bucket of ``interval``, so each rollup row lands in one output bucket.
    """
    return _cover(since, until, _GRAINS_FOR[interval])


def _cover(since: str, until: str, grains: tuple[str, ...]) -> list[tuple[str | None, str, str]]:
    if since >= until:
        return []
    if not grains:
        return [(None, since, until)]
    grain = grains[0]
    start = truncate(since, grain)
    if start < since:
        start = _next(start, grain)
    end = truncate(until, grain)
    if start >= end:
        return _cover(since, until, grains[1:])
    return [*_cover(since, start, grains[1:]), (grain, start, end), *_cover(end, until, grains[1:])]


def latency_bin(ms: float) -> int:
    """Histogram bin of a duration: ``floor(8 * log2(ms))``; ``ZERO_BIN`` for 0 ms."""
    if ms <= 0:
        return ZERO_BIN
    return max(math.floor(_BINS_PER_OCTAVE * math.log2(ms)), ZERO_BIN + 1)


def _bin_value(k: int) -> float:
    return 0.0 if k == ZERO_BIN else 2 ** ((k + 0.5) / _BINS_PER_OCTAVE)


def histogram_percentile(hist: Mapping[int, int], q: float) -> float | None:
    """``percentile_cont(q)`` estimated from a latency histogram (see ``LATENCY_REL_ERROR``)."""
    return histogram_percentiles(hist, (q,))[0]


def histogram_percentiles(hist: Mapping[int, int], qs: Sequence[float]) -> list[float | None]:
    """Several percentiles in one pass over the sorted bins."""
    total = sum(hist.values())
    if total <= 0:
        return [None] * len(qs)
    bins = sorted((k, n) for k, n in hist.items() if n > 0)
    out: list[float | None] = []
    for q in qs:
        pos = q * (total - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, total - 1)
        lo_value = hi_value = 0.0
        seen = 0
        found_lo = False
        for k, n in bins:
            seen += n
            if not found_lo and seen > lo:
                lo_value, found_lo = _bin_value(k), True
            if seen > hi:
                hi_value = _bin_value(k)
                break
        out.append(lo_value + (hi_value - lo_value) * (pos - lo))
    return out


def merge_hist(a: str | None, b: str | None) -> str:
    """Sum two sparse histograms stored as JSON objects; bins that reach zero are dropped."""
    out: dict[str, int] = json.loads(a) if a else {}
    for k, n in (json.loads(b) if b else {}).items():
        out[k] = out.get(k, 0) + n
    # Keys are integers and counts are integers: no escaping needed (json.dumps costs ~4x more here).
    return "{" + ",".join(f'"{k}":{n}' for k, n in out.items() if n) + "}"


def _dim(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


@dataclass(slots=True)
class Totals:
    """Additive sums of one rollup row (or of one output row)."""

    calls: int = 0
    errors: int = 0
    tokens_input: float = 0.0
    tokens_output: float = 0.0
    tokens_total: float = 0.0
    cost_sum: float = 0.0
    cost_n: int = 0
    duration_sum: float = 0.0
    hist: dict[int, int] = field(default_factory=dict)

    def add(self, other: Totals) -> None:
        """Add another row's sums."""
        self.calls += other.calls
        self.errors += other.errors
        self.tokens_input += other.tokens_input
        self.tokens_output += other.tokens_output
        self.tokens_total += other.tokens_total
        self.cost_sum += other.cost_sum
        self.cost_n += other.cost_n
        self.duration_sum += other.duration_sum
        for k, n in other.hist.items():
            self.hist[k] = self.hist.get(k, 0) + n

    def negated_sums(self) -> Totals:
        """The sums with the opposite sign and no histogram (to subtract a group from a total)."""
        return Totals(
            -self.calls, -self.errors, -self.tokens_input, -self.tokens_output, -self.tokens_total,
            -self.cost_sum, -self.cost_n, -self.duration_sum,
        )  # fmt: skip

    def hist_json(self) -> str:
        """The histogram as stored: a JSON object of bin -> count."""
        return "{" + ",".join(f'"{k}":{n}' for k, n in self.hist.items() if n) + "}"


RollupKey = tuple[str, str, str, str, str | None]  # tenant, grain, dimension, bucket, value
SpanKey = tuple[str, str, tuple[str | None, ...]]  # tenant, minute bucket, the value of every dimension


def accumulate(
    out: dict[SpanKey, Totals],
    tenant_id: str,
    start_time: str,
    name: str,
    status: str,
    duration_ms: float,
    attributes: Mapping[str, Any],
    sign: int = 1,
) -> None:
    """Add (sign=1) or subtract (sign=-1) one span to its group (tenant, minute, dimension values).

    ``expand`` turns groups into rollup rows (every grain x every dimension): spans of a batch
    share a few groups, so the 18 rows per group are computed once per group, not per span.
    """
    values = (
        None,
        _dim(attributes.get("model")),
        name,
        _dim(attributes.get("feature")),
        _dim(attributes.get("endpoint")),
        _dim(attributes.get("provider")),
        _dim(attributes.get("user_id")),
    )
    cost = attributes.get("cost_usd")
    key = (tenant_id, truncate(start_time, "minute"), values)
    t = out.get(key)
    if t is None:
        t = out[key] = Totals()
    # Added field by field (no Totals per span): this runs once per span at ingest.
    t.calls += sign
    if status == "error":
        t.errors += sign
    t.tokens_input += sign * _num(attributes.get("tokens_input"))
    t.tokens_output += sign * _num(attributes.get("tokens_output"))
    t.tokens_total += sign * _num(attributes.get("tokens_total"))
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        t.cost_sum += sign * float(cost)
        t.cost_n += sign
    t.duration_sum += sign * float(duration_ms)
    k = latency_bin(duration_ms)
    t.hist[k] = t.hist.get(k, 0) + sign


def expand(groups: Mapping[SpanKey, Totals], dims: Sequence[str] = DIMENSIONS) -> dict[RollupKey, Totals]:
    """Rollup rows (every grain x each of ``dims``) from span groups.

    Per dimension: groups are summed into minute rows, minute rows into hour rows, hour rows into
    day rows, so a batch whose groups are nearly all distinct (many users) costs about one sum per
    span and dimension, not one per span, dimension and grain.
    """
    out: dict[RollupKey, Totals] = {}
    for i, dim in enumerate(DIMENSIONS):
        if dim not in dims:
            continue
        rows: dict[tuple[str, str, str | None], Totals] = {}
        for (tenant_id, minute, values), one in groups.items():
            key = (tenant_id, minute, values[i])
            t = rows.get(key)
            if t is None:
                rows[key] = t = Totals()
            t.add(one)
        for grain in ("minute", "hour", "day"):
            if grain != "minute":
                coarser: dict[tuple[str, str, str | None], Totals] = {}
                for (tenant_id, bucket, value), finer in rows.items():
                    key = (tenant_id, truncate(bucket, grain), value)
                    t = coarser.get(key)
                    if t is None:
                        coarser[key] = t = Totals()
                    t.add(finer)
                rows = coarser
            for (tenant_id, bucket, value), t in rows.items():
                out[(tenant_id, grain, dim, bucket, value)] = t
    return out


def rollup_params(
    groups: Mapping[SpanKey, Totals],
    clean: Callable[[str | None], str | None] | None = None,
    dims: Sequence[str] = DIMENSIONS,
) -> list[tuple[Any, ...]]:
    """Upsert rows ``(tenant, grain, dim, bucket, key, value, calls, ..., hist)``, sorted so that
    concurrent writers lock rows in the same order; ``clean`` is applied to the values."""
    merged = expand(groups, dims)
    if clean is not None:  # values that clean to the same text share a row
        cleaned: dict[RollupKey, Totals] = {}
        for (tenant, grain, dim, bucket, value), t in merged.items():
            key = (tenant, grain, dim, bucket, clean(value))
            if key in cleaned:
                cleaned[key].add(t)
            else:
                cleaned[key] = t
        merged = cleaned
    rows = []
    for (tenant, grain, dim, bucket, value), t in merged.items():
        rows.append(
            (tenant, grain, dim, bucket, json.dumps(value), value, t.calls, t.errors, t.tokens_input,
             t.tokens_output, t.tokens_total, t.cost_sum, t.cost_n, t.duration_sum, t.hist_json())
        )  # fmt: skip
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3], r[4]))
    return rows


def score_key(score: Any) -> float:
    """How a latest score is stored in the score rollup: clamped to [0, 1], or ``NULL_SCORE``."""
    if score is None or isinstance(score, bool) or not isinstance(score, (int, float)):
        return NULL_SCORE
    return min(max(float(score), 0.0), 1.0)


ScoreDeltas = dict[tuple[str, str, float, str], int]  # (tenant, metric, score, span start) -> count


def bump(deltas: ScoreDeltas, tenant_id: str, metric: str, score: float, start: str, n: int) -> None:
    """Add ``n`` spans with this latest score to the score rollup deltas."""
    key = (tenant_id, metric, score, start)
    deltas[key] = deltas.get(key, 0) + n


def plan_scores(
    tenant_id: str,
    arrived: Iterable[tuple[str, str, float, str]],
    evals: Iterable[tuple[str, str, str, Mapping[str, Any]]],
    known: Mapping[str, str],
    current: dict[tuple[str, str], tuple[float, str]],
) -> tuple[ScoreDeltas, dict[tuple[str, str], tuple[float, str]]]:
    """Score rollup deltas and the new latest scores for one ingest batch.

    ``arrived``: (span_id, metric, score, span start) of latest scores stored before this batch
    whose span has just arrived; ``evals``: new eval results (span_id, status, created_at, scores)
    in insertion order; ``known``: start time of every span those results point at, if stored;
    ``current``: the stored latest (score, created_at) per (span_id, metric). Returns the deltas
    and the (span_id, metric) -> (score, created_at) rows to write.
    """
    deltas: ScoreDeltas = {}
    for _, metric, score, start in arrived:
        bump(deltas, tenant_id, metric, score, start, 1)
    changed: dict[tuple[str, str], tuple[float, str]] = {}
    for span_id, status, created, scores in evals:
        if status != "ok":
            continue
        span_start = known.get(span_id)
        for metric, value in scores.items():
            old = current.get((span_id, metric))
            # A later insert has a higher id, so it wins a created_at tie (as the query API orders them).
            if old is not None and created < old[1]:
                continue
            new = (score_key(value), created)
            if span_start is not None:
                if old is not None:
                    bump(deltas, tenant_id, metric, old[0], span_start, -1)
                bump(deltas, tenant_id, metric, new[0], span_start, 1)
            current[(span_id, metric)] = changed[(span_id, metric)] = new
    return deltas, changed


def score_rollup_rows(deltas: ScoreDeltas) -> list[tuple[str, str, str, str, float, int]]:
    """(tenant, metric, grain, bucket, score, n) upsert rows at every grain, sorted, zeros dropped."""
    per_bucket: dict[tuple[str, str, str, str, float], int] = {}
    for (tenant, metric, score, start), n in deltas.items():
        for grain in GRAINS:
            key = (tenant, metric, grain, truncate(start, grain), score)
            per_bucket[key] = per_bucket.get(key, 0) + n
    return sorted((*k, n) for k, n in per_bucket.items() if n)


def label(bucket: str, interval: str | None) -> str | None:
    """The API's bucket label (``2026-11-27T09:00:00Z``) of a rollup bucket, for ``interval``."""
    if interval is None:
        return None
    start = truncate(bucket, interval)
    return start[:19] + "Z"


def top_values(calls: Mapping[str | None, int], top: int | None) -> set[str | None] | None:
    """The ``top`` group values with the most calls (ties: null first, then by value), or None
    when there are no more than ``top`` groups (every group is kept)."""
    if top is None or len(calls) <= top:
        return None
    ranked = sorted(calls.items(), key=lambda kv: (-kv[1], kv[0] is not None, kv[0] or ""))
    return {value for value, _ in ranked[:top]}


def aggregate_rows(merged: Mapping[tuple[str | None, str | None], Totals], other: bool = False) -> list[dict[str, Any]]:
    """Output rows of ``/v1/stats/aggregates`` from merged totals, ordered by bucket then group.

    With ``other`` (groups beyond the top were summed into ``OTHER_GROUP``), that group's rows
    carry sums only: its latency percentiles are null (reading every other group's histogram is
    what made wide, many-group answers slow).
    """
    out = []
    for (bucket, grp), t in sorted(merged.items(), key=lambda kv: _nulls_first(kv[0])):
        if t.calls <= 0:
            continue
        row = {
            "bucket": bucket,
            "grp": grp,
            "calls": t.calls,
            "errors": t.errors,
            "tokens_input": t.tokens_input,
            "tokens_output": t.tokens_output,
            "tokens_total": t.tokens_total,
            "cost_usd": t.cost_sum if t.cost_n > 0 else None,
            "avg_ms": t.duration_sum / t.calls,
        }
        if other and grp == OTHER_GROUP:
            out.append(aggregate_row(row, None, None, None))
        else:
            out.append(aggregate_row(row, *histogram_percentiles(t.hist, (0.5, 0.95, 0.99))))
    return out


def _nulls_first(key: tuple[str | None, str | None]) -> tuple[bool, str, bool, str]:
    return (key[0] is not None, key[0] or "", key[1] is not None, key[1] or "")


def score_histogram(values: Iterable[tuple[float, int]], bins: int) -> tuple[list[int], int, float | None]:
    """Equal-width bins over [0, 1], the null count and the mean, from (score, count) pairs."""
    counts = [0] * bins
    nulls = 0
    total = 0.0
    n = 0
    for score, count in values:
        if count <= 0:
            continue
        if score == NULL_SCORE:
            nulls += count
            continue
        counts[min(int(score * bins), bins - 1)] += count
        total += score * count
        n += count
    return counts, nulls, (total / n if n else None)
