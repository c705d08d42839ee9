"""Evaluate spans already stored in ``traces.db`` / ``traces.jsonl`` (what ``peekr eval`` runs).

Results are written with the same sinks peekr records with (SQLite: stored and merged into the
span row; JSONL: an eval line readers merge), in small batches as they complete, so an
interrupted run keeps its progress. Spans that already have the evaluator's score are skipped
unless ``force`` — so running the command again resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError

from .._events import EvalResult
from .._span import Span
from ..store._readers import JSONLTraces, SpanFilter, open_traces
from ._base import RunSettings
from ._evaluate import evaluate_span
from .hallucination import Hallucination

__all__ = ["BatchSummary", "pending_spans", "run_stored"]

_WRITE_EVERY = 20
_WRITE_INTERVAL = 1.0


@dataclass
class BatchSummary:
    """What ``run_stored`` did."""

    selected: int = 0
    already_scored: int = 0
    evaluated: int = 0
    failed: int = 0
    skipped: int = 0
    scores: list[float] = field(default_factory=list)
    no_score: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    errors: dict[str, int] = field(default_factory=dict)


def pending_spans(
    path: Path, evaluator: str, flt: SpanFilter, *, accept: Callable[[Span], bool], force: bool, limit: int | None
) -> tuple[list[Span], int, int]:
    """Spans to evaluate: (spans, how many matched, how many already had a score)."""
    spans: list[Span] = []
    matched = scored = 0
    with open_traces(path) as store:
        for data in reversed(store.query(flt, limit=None).spans):  # oldest first
            try:
                span = Span.model_validate(data)
            except ValidationError:
                continue
            if not accept(span):
                continue
            matched += 1
            if not force and evaluator in (span.attributes.get("eval_scores") or {}):
                scored += 1
                continue
            if limit is None or len(spans) < limit:
                spans.append(span)
    return spans, matched, scored


def _sink_for(path: Path) -> Any:
    with open_traces(path) as store:
        jsonl = isinstance(store, JSONLTraces)
    if jsonl:
        from ..sinks.jsonl import JSONLSink

        return JSONLSink(path)
    from ..sinks.sqlite import SQLiteSink

    return SQLiteSink(path)


async def run_stored(
    path: Path,
    evaluator: Hallucination,
    spans: list[Span],
    *,
    concurrency: int,
    on_result: Callable[[EvalResult | None], None] = lambda r: None,
) -> BatchSummary:
    """Evaluate ``spans`` with at most ``concurrency`` at once and store the results in ``path``."""
    summary = BatchSummary(selected=len(spans))
    sink = _sink_for(path)
    pending: list[EvalResult] = []
    last_write = time.monotonic()
    settings = RunSettings(timeout=evaluator.timeout)
    limiter = anyio.CapacityLimiter(concurrency)
    evaluator.prepare()

    async def write() -> None:
        nonlocal pending, last_write
        batch, pending, last_write = pending, [], time.monotonic()
        if batch:
            await sink.write(batch)

    async def one(span: Span) -> None:
        async with limiter:
            outcome = await evaluate_span(evaluator.name, evaluator.evaluate, settings, span)
        result = outcome.result
        _count(summary, evaluator.name, result)
        if result is not None:
            pending.append(result)
            if len(pending) >= _WRITE_EVERY or time.monotonic() - last_write > _WRITE_INTERVAL:
                await write()
        on_result(result)

    try:
        async with anyio.create_task_group() as tg:
            for span in spans:
                tg.start_soon(one, span)
    finally:
        with anyio.CancelScope(shield=True):
            await write()
            await sink.aclose()
            await evaluator.aclose()
    return summary


def _count(summary: BatchSummary, name: str, result: EvalResult | None) -> None:
    if result is None:
        summary.skipped += 1
        return
    if result.status != "ok":
        summary.failed += 1
        key = " ".join((result.error or "error").split())[:160]
        summary.errors[key] = summary.errors.get(key, 0) + 1
    else:
        summary.evaluated += 1
        score = result.scores.get(name)
        if score is None:
            summary.no_score += 1
        else:
            summary.scores.append(score)
    info = result.attributes.get(f"{name}_eval") or {}
    cost = info.get("judge_cost_usd")
    if isinstance(cost, (int, float)):
        summary.cost_usd += cost
    elif info.get("judge_calls"):
        summary.cost_known = False
