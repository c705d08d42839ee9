"""Compare the variants of an A/B experiment recorded by ``peekr.experiment`` (``peekr compare``).

The unit is one LLM call: a span of the experiment (``attributes.experiment == name``) that has a
``model``. Per variant: calls, cost per call (priced calls only; calls that used tokens but have no
price are counted as unpriced and left out, never taken as $0), tokens
per call, latency p50/p95, error rate, the good rate of the feedback given to its traces, and the
mean of every eval score. Each variant is tested against the control (``control``, else the first
variant in sorted order) with a test suited to the metric (see :mod:`peekr.store._stats`); with
more than one challenger the p-values of each metric are Holm-adjusted.

Example:
    >>> result = compare_experiment("traces.db", "prompt-v2")
    >>> print(result.verdict)
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._readers import SpanDict, SpanFilter, SQLiteTraces, TraceFileError, Traces, open_traces
from ._stats import holm, mann_whitney, mean_ci, quantile, quantile_ci, two_proportions, wilson

__all__ = [
    "BASE_METRICS",
    "Comparison",
    "MetricValue",
    "MetricTest",
    "VariantSummary",
    "compare_experiment",
    "comparison_json",
    "compare_spans",
    "experiments_summary",
    "list_experiments",
    "metric_label",
]

#: Metric groups ``--metric`` accepts; eval scores are selected by their name (or ``scores`` for all).
BASE_METRICS = ("cost", "tokens", "latency", "errors", "feedback")
#: Below this many observations per variant the tests are approximate: a warning says so.
MIN_SAMPLES = 30
ALPHA = 0.05


@dataclass(frozen=True)
class MetricValue:
    """One metric of one variant with its 95 % confidence interval and sample size."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


@dataclass(frozen=True)
class MetricTest:
    """One variant against the control on one metric."""

    metric: str
    variant: str
    control: str
    #: Relative change of the compared statistic (mean, p50), or absolute change for rates.
    change: float | None
    #: ``"relative"`` (fraction of the control's value) or ``"absolute"`` (rate difference).
    change_kind: str
    p_value: float | None
    test: str
    significant: bool


@dataclass
class VariantSummary:
    """Everything measured for one variant."""

    variant: str
    calls: int
    traces: int
    unpriced_calls: int
    metrics: dict[str, MetricValue] = field(default_factory=dict)


@dataclass
class Comparison:
    """The result of :func:`compare_experiment`; ``to_dict()`` is what ``--json`` prints."""

    experiment: str
    control: str
    variants: list[VariantSummary]
    tests: list[MetricTest]
    warnings: list[str]
    verdict: str
    alpha: float = ALPHA

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-ready data."""
        return asdict(self)


def _num(value: object) -> float | None:
    kind = type(value)  # exact types: a bool is not a number here
    if kind is float:
        return value if math.isfinite(value) else None  # type: ignore[arg-type,return-value]
    return float(value) if kind is int else None  # type: ignore[arg-type]


# One json_extract with several paths parses each row's JSON once and returns a small JSON array.
_NARROW = (
    "SELECT trace_id, span_id, status, duration_ms, json_extract(attributes, '$.model', '$.experiment_variant', "
    "'$.cost_usd', '$.tokens_total', '$.eval_scores', '$.experiment') FROM spans"
)


def _load_sqlite(store: SQLiteTraces, experiment: str | None, since: str | None, until: str | None) -> list[SpanDict]:
    """Only the columns compare needs, extracted inside SQLite: inputs and outputs never reach Python.

    ``experiment=None`` loads the LLM calls of every experiment (one scan for the dashboard).
    """
    params: list[Any] = []
    if experiment is None:
        sql = _NARROW + " WHERE json_extract(attributes, '$.experiment') IS NOT NULL"
    else:
        sql = _NARROW + " WHERE json_extract(attributes, '$.experiment') = ?"
        params.append(experiment)
    if since is not None:
        sql += " AND start_time >= ?"
        params.append(since)
    if until is not None:
        sql += " AND start_time < ?"
        params.append(until)
    spans: list[SpanDict] = []
    by_id: dict[str, SpanDict] = {}
    for trace_id, span_id, status, duration, extracted in store.db.execute(sql, params):
        try:
            model, variant, cost, tokens, scores, name = json.loads(extracted)
        except (TypeError, ValueError):
            continue
        if model is None:  # not an LLM call (a user span around one)
            continue
        attrs: dict[str, Any] = {
            "model": model,
            "experiment_variant": variant,
            "cost_usd": cost,
            "tokens_total": tokens,
            "experiment": name,
        }
        if isinstance(scores, dict):
            attrs["eval_scores"] = scores
        span = {
            "trace_id": trace_id,
            "span_id": span_id,
            "status": status,
            "duration_ms": duration,
            "attributes": attrs,
        }
        spans.append(span)
        by_id[span_id] = span
    if store._has_evals and spans:
        # Results stored after the span row (by another process) are merged like the reader does.
        # A scan of the narrow eval_results table, not a second JSON scan of spans.
        rows = store.db.execute("SELECT span_id, scores FROM eval_results WHERE status = 'ok' ORDER BY created_at, id")
        for span_id, scores in rows:
            target = by_id.get(span_id)
            if target is None:
                continue
            try:
                parsed = json.loads(scores or "{}")
            except ValueError:
                continue
            if isinstance(parsed, dict):
                target["attributes"]["eval_scores"] = {**(target["attributes"].get("eval_scores") or {}), **parsed}
    return spans


def _load(store: Traces, experiment: str | None, since: str | None, until: str | None) -> list[SpanDict]:
    if isinstance(store, SQLiteTraces):
        try:
            return _load_sqlite(store, experiment, since, until)
        except sqlite3.DatabaseError as exc:
            raise TraceFileError(f"{store.path}: corrupt or unreadable database ({exc})") from None
    picked = []
    for s in store.query(SpanFilter(since=since), limit=None).spans:
        name = (s.get("attributes") or {}).get("experiment")
        if name is None or (experiment is not None and name != experiment):
            continue
        if until is None or str(s.get("start_time", "")) < until:
            picked.append(s)
    return picked


def list_experiments(path: str | Path) -> dict[str, dict[str, int]]:
    """Return ``{experiment: {variant: LLM calls}}`` for every experiment in a traces file.

    Raises:
        TraceFileError: The file is missing, empty, corrupt or not a peekr file.
    """
    store = open_traces(path)
    try:
        found: dict[str, dict[str, int]] = {}
        if isinstance(store, SQLiteTraces):
            rows = store.db.execute(
                "SELECT json_extract(attributes, '$.experiment'), json_extract(attributes, '$.experiment_variant'), "
                "COUNT(*) FROM spans WHERE json_extract(attributes, '$.experiment') IS NOT NULL "
                "AND json_extract(attributes, '$.model') IS NOT NULL GROUP BY 1, 2"
            )
            for name, variant, calls in rows:
                found.setdefault(str(name), {})[str(variant)] = int(calls)
        else:
            for s in store.spans:
                attrs = s.get("attributes") or {}
                if attrs.get("experiment") is not None and attrs.get("model") is not None:
                    by_variant = found.setdefault(str(attrs["experiment"]), {})
                    key = str(attrs.get("experiment_variant"))
                    by_variant[key] = by_variant.get(key, 0) + 1
        return found
    finally:
        store.close()


def experiments_summary(path: str | Path, *, limit: int = 10) -> list[dict[str, Any]]:
    """Return :func:`compare_experiment` as plain data for each experiment in the file (the dashboard's section).

    At most ``limit`` experiments, those with the most calls first. The file is read once for all.

    Raises:
        TraceFileError: The file is missing, empty, corrupt or not a peekr file.
    """
    store = open_traces(path)
    try:
        spans = _load(store, None, None, None)
        feedback = store.all_feedback()
    finally:
        store.close()
    by_name: dict[str, list[SpanDict]] = {}
    for s in spans:
        attrs = s.get("attributes") or {}
        if attrs.get("model") is not None:
            by_name.setdefault(str(attrs["experiment"]), []).append(s)
    names = sorted(by_name, key=lambda name: (-len(by_name[name]), name))[:limit]
    return [compare_spans(by_name[name], name, feedback=feedback).to_dict() for name in names]


def compare_experiment(
    path: str | Path,
    experiment: str,
    *,
    metrics: Sequence[str] | None = None,
    control: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Comparison:
    """Compare the variants of ``experiment`` recorded in ``traces.db`` or ``traces.jsonl``.

    Args:
        path: The traces file.
        experiment: The name given to ``peekr.experiment``.
        metrics: Restrict to these: ``cost``, ``tokens``, ``latency``, ``errors``, ``feedback``,
            ``scores`` (every eval score) or an eval score's name. Default: all.
        control: The variant the others are compared with; default the first in sorted order.
        since: Only calls started at or after this ISO-8601 UTC time.
        until: Only calls started before this ISO-8601 UTC time.

    Returns:
        A :class:`Comparison` (plain data; ``to_dict()`` for JSON).

    Raises:
        TraceFileError: The file is bad, or the experiment has no calls in it (the message lists
            the experiments that are there).
        ValueError: ``control`` is not one of the variants.
    """
    store = open_traces(path)
    try:
        spans = _load(store, experiment, since, until)
        feedback = store.all_feedback()
    finally:
        store.close()
    if not any((s.get("attributes") or {}).get("model") is not None for s in spans):
        known = sorted(list_experiments(path))
        listed = ", ".join(known) if known else "none"
        raise TraceFileError(
            f"{path}: no LLM calls recorded for experiment {experiment!r} (experiments here: {listed})"
        )
    return compare_spans(spans, experiment, feedback=feedback, metrics=metrics, control=control)


def _latest_ratings(feedback: list[dict[str, Any]]) -> dict[str, str]:
    ratings: dict[str, str] = {}
    for record in sorted(feedback, key=lambda f: str(f.get("created_at", ""))):
        if record.get("rating") in ("good", "bad"):
            ratings[str(record["trace_id"])] = str(record["rating"])
    return ratings


@dataclass
class _Samples:
    costs: list[float] = field(default_factory=list)
    tokens: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    errors: int = 0
    calls: int = 0
    unpriced: int = 0
    traces: set[str] = field(default_factory=set)
    good: int = 0
    rated: int = 0
    scores: dict[str, list[float]] = field(default_factory=dict)


def _gather(spans: list[SpanDict], ratings: dict[str, str]) -> dict[str, _Samples]:
    groups: dict[str, _Samples] = {}
    for s in spans:
        attrs = s.get("attributes") or {}
        if attrs.get("model") is None:
            continue
        variant = str(attrs.get("experiment_variant"))
        g = groups.get(variant)
        if g is None:
            g = groups[variant] = _Samples()
        g.calls += 1
        g.traces.add(str(s["trace_id"]))
        cost = _num(attrs.get("cost_usd"))
        tokens = _num(attrs.get("tokens_total"))
        if cost is not None:
            g.costs.append(cost)
        elif tokens:  # used tokens, but no price known (a call without usage has nothing to price)
            g.unpriced += 1
        if tokens is not None:
            g.tokens.append(tokens)
        latency = _num(s.get("duration_ms"))
        if latency is not None:
            g.latency.append(latency)
        g.errors += s.get("status") == "error"
        for name, value in (attrs.get("eval_scores") or {}).items():
            if (v := _num(value)) is not None:
                g.scores.setdefault(str(name), []).append(v)
    for g in groups.values():
        for trace_id in g.traces:
            if trace_id in ratings:
                g.rated += 1
                g.good += ratings[trace_id] == "good"
    return groups


def _wanted(metrics: Sequence[str] | None, score_names: list[str], rated: bool) -> list[str]:
    if not metrics:  # feedback only when some trace of the experiment was rated
        base = [m for m in BASE_METRICS if m != "feedback" or rated]
        return [*base, *(f"score.{n}" for n in score_names)]
    wanted: list[str] = []
    for m in metrics:
        if m in BASE_METRICS:
            wanted.append(m)
        elif m == "scores":
            wanted += [f"score.{n}" for n in score_names]
        elif m.removeprefix("score.") in score_names:
            wanted.append(f"score.{m.removeprefix('score.')}")
        else:
            choices = ", ".join([*BASE_METRICS, "scores", *score_names])
            raise ValueError(f"unknown metric {m!r}; expected one of: {choices}")
    return list(dict.fromkeys(wanted))


def _mean_value(values: list[float]) -> MetricValue:
    if not values:
        return MetricValue(None, None, None, 0)
    mean, lo, hi = mean_ci(values)
    return MetricValue(mean, max(0.0, lo), hi, len(values))  # costs, tokens and scores are never negative


def _pct_value(values: list[float], q: float) -> MetricValue:
    if not values:
        return MetricValue(None, None, None, 0)
    ordered = sorted(values)
    lo, hi = quantile_ci(ordered, q)
    return MetricValue(quantile(ordered, q), lo, hi, len(values))


def _rate_value(k: int, n: int) -> MetricValue:
    if n == 0:
        return MetricValue(None, None, None, 0)
    lo, hi = wilson(k, n)
    return MetricValue(k / n, lo, hi, n)


def _values(g: _Samples, metric: str) -> dict[str, MetricValue]:
    if metric == "cost":
        return {"cost": _mean_value(g.costs)}
    if metric == "tokens":
        return {"tokens": _mean_value(g.tokens)}
    if metric == "latency":
        return {"latency_p50": _pct_value(g.latency, 0.5), "latency_p95": _pct_value(g.latency, 0.95)}
    if metric == "errors":
        return {"errors": _rate_value(g.errors, g.calls)}
    if metric == "feedback":
        return {"feedback": _rate_value(g.good, g.rated)}
    return {metric: _mean_value(g.scores.get(metric.removeprefix("score."), []))}


def _raw_test(g: _Samples, c: _Samples, metric: str) -> tuple[float | None, str]:
    if metric == "errors":
        return two_proportions(g.errors, g.calls, c.errors, c.calls)
    if metric == "feedback":
        return two_proportions(g.good, g.rated, c.good, c.rated)
    return mann_whitney(_sample(g, metric), _sample(c, metric)), "Mann-Whitney U"


def _sample(g: _Samples, metric: str) -> list[float]:
    if metric == "cost":
        return g.costs
    if metric == "tokens":
        return g.tokens
    if metric == "latency":
        return g.latency
    return g.scores.get(metric.removeprefix("score."), [])


def _change(v: VariantSummary, c: VariantSummary, metric: str) -> tuple[float | None, str]:
    key = "latency_p50" if metric == "latency" else metric
    a, b = v.metrics[key].value, c.metrics[key].value
    if a is None or b is None:
        return None, "relative"
    if metric in ("errors", "feedback"):
        return a - b, "absolute"
    return ((a - b) / b if b else None), "relative"


def compare_spans(
    spans: list[SpanDict],
    experiment: str,
    *,
    feedback: list[dict[str, Any]] | None = None,
    metrics: Sequence[str] | None = None,
    control: str | None = None,
    alpha: float = ALPHA,
) -> Comparison:
    """Compare variants over already loaded span dicts (what :func:`compare_experiment` does after reading).

    Raises:
        ValueError: ``control`` is not a variant, or an unknown metric.
    """
    groups = _gather(spans, _latest_ratings(feedback or []))
    names = sorted(groups)
    if control is None:
        control = names[0] if names else ""
    elif control not in groups:
        raise ValueError(f"--control {control!r} is not a variant of {experiment!r}; variants: {', '.join(names)}")
    score_names = sorted({n for g in groups.values() for n in g.scores})
    wanted = _wanted(metrics, score_names, any(g.rated for g in groups.values()))
    order = [control, *(n for n in names if n != control)]
    summaries = []
    for name in order:
        g = groups[name]
        summary = VariantSummary(name, g.calls, len(g.traces), g.unpriced)
        for metric in wanted:
            summary.metrics.update(_values(g, metric))
        summaries.append(summary)
    tests: list[MetricTest] = []
    for metric in wanted:
        raw = [_raw_test(groups[n], groups[control], metric) for n in order[1:]]
        adjusted = holm([p for p, _ in raw])
        for summary, (_, test_name), p in zip(summaries[1:], raw, adjusted, strict=True):
            change, kind = _change(summary, summaries[0], metric)
            significant = p is not None and p < alpha
            tests.append(MetricTest(metric, summary.variant, control, change, kind, p, test_name, significant))
    warnings = _warnings(summaries, groups, wanted)
    return Comparison(experiment, control, summaries, tests, warnings, _verdict(tests, summaries), alpha)


def _warnings(summaries: list[VariantSummary], groups: dict[str, _Samples], wanted: list[str]) -> list[str]:
    out: list[str] = []
    if len(summaries) < 2:
        out.append(f"only one variant has calls ({summaries[0].variant if summaries else 'none'}); nothing to compare")
    small = [s.variant for s in summaries if s.calls < MIN_SAMPLES]
    if small:
        out.append(
            f"fewer than {MIN_SAMPLES} calls in {', '.join(small)}: the tests are approximate; collect more data "
            "before acting on them"
        )
    if "feedback" in wanted:
        few = [n for n, g in groups.items() if 0 < g.rated < MIN_SAMPLES]
        if few:
            out.append(f"fewer than {MIN_SAMPLES} rated traces in {', '.join(sorted(few))}: feedback is approximate")
    unpriced = {s.variant: s.unpriced_calls for s in summaries if s.unpriced_calls}
    if unpriced and "cost" in wanted:
        listed = ", ".join(f"{v}: {n:,}" for v, n in unpriced.items())
        out.append(f"unpriced calls left out of cost per call ({listed})")
    return out


_WORDS = {
    "cost": ("is {pct} % cheaper per call", "is {pct} % more expensive per call"),
    "tokens": ("uses {pct} % fewer tokens per call", "uses {pct} % more tokens per call"),
    "latency": ("is {pct} % faster (p50 latency)", "is {pct} % slower (p50 latency)"),
}


def metric_label(metric: str) -> str:
    """A readable name: ``cost per call``, ``error rate``, ``hallucination score``."""
    labels = {
        "cost": "cost per call",
        "tokens": "tokens per call",
        "latency": "latency",
        "errors": "error rate",
        "feedback": "good-feedback rate",
    }
    return labels.get(metric, f"{metric.removeprefix('score.')} score")


def _sentence(t: MetricTest) -> str:
    p = f"p={t.p_value:.3g}" if t.p_value is not None and t.p_value >= 0.001 else "p<0.001"
    if t.change is None:
        return f"{t.variant} differs from {t.control} in {metric_label(t.metric)} ({p})"
    if t.change_kind == "absolute":
        pp = abs(t.change) * 100
        more = "higher" if t.change > 0 else "lower"
        return f"{t.variant} has a {pp:.1f} pp {more} {metric_label(t.metric)} than {t.control} ({p})"
    pct = abs(t.change) * 100
    if t.metric in _WORDS:
        word = _WORDS[t.metric][0 if t.change < 0 else 1].format(pct=f"{pct:.0f}")
        return f"{t.variant} {word} than {t.control} ({p})"
    more = "higher" if t.change > 0 else "lower"
    return f"{t.variant} has a {pct:.0f} % {more} {metric_label(t.metric)} than {t.control} ({p})"


def _verdict(tests: list[MetricTest], summaries: list[VariantSummary]) -> str:
    if len(summaries) < 2:
        return "Nothing to compare: only one variant has calls."
    found = [_sentence(t) for t in tests if t.significant]
    untestable = sorted({metric_label(t.metric) for t in tests if t.p_value is None})
    tested = [t for t in tests if t.p_value is not None]
    same = [
        m for m in dict.fromkeys(t.metric for t in tested) if not any(x.significant for x in tested if x.metric == m)
    ]
    parts = list(found)
    if same:
        parts.append("no significant difference in " + ", ".join(metric_label(m) for m in same))
    if untestable:
        parts.append("not enough data to test " + ", ".join(untestable))
    text = "; ".join(parts)
    return text + "." if text else "No metric to compare."


def comparison_json(result: Comparison) -> str:
    """The ``--json`` output."""
    return json.dumps(result.to_dict(), indent=2)
