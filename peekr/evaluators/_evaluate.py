"""Run one evaluator on one span and turn the outcome into an ``EvalResult``.

Shared by the live runner (spans from the bus) and ``peekr eval`` (spans from a file). The
evaluator runs inside ``suppress_instrumentation()``: any provider call it makes — a judge
model, a custom evaluator's own client — is never recorded as a span, so evaluations are never
evaluated themselves.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from .._context import suppress_instrumentation
from .._events import EvalResult
from .._span import Span, iso_utc
from ._base import EvaluationFailed, RunSettings, is_async_callable, normalize

__all__ = ["Outcome", "evaluate_span", "make_result"]


@dataclass(frozen=True)
class Outcome:
    """What happened: ``result`` (None when skipped) and a failure kind for the counters."""

    result: EvalResult | None
    failure: str | None = None  # "timeout" | "evaluator_error" | None


def make_result(
    span: Span,
    evaluator: str,
    *,
    scores: dict[str, float | None] | None = None,
    attributes: dict[str, Any] | None = None,
    error: str | None = None,
) -> EvalResult:
    """Build the ``EvalResult`` for ``span`` (failed when ``error`` is given)."""
    return EvalResult(
        span_id=span.span_id,
        trace_id=span.trace_id,
        evaluator=evaluator,
        status="failed" if error is not None else "ok",
        scores={} if error is not None else dict(scores or {}),
        attributes=dict(attributes or {}),
        error=error,
        created_at=iso_utc(time.time_ns()),
        tenant_id=span.tenant_id,
    )


async def _call(evaluate: Callable[[Span], Any], span: Span) -> Any:
    if is_async_callable(evaluate):
        return await evaluate(span)
    # A sync evaluator runs in a worker thread so it cannot stall the loop; on timeout the thread
    # is abandoned (it finishes in the background; its result is discarded).
    value = await anyio.to_thread.run_sync(functools.partial(evaluate, span), abandon_on_cancel=True)
    if hasattr(value, "__await__"):  # a sync callable that returned a coroutine
        value = await value
    return value


async def evaluate_span(name: str, evaluate: Callable[[Span], Any], settings: RunSettings, span: Span) -> Outcome:
    """Run ``evaluate(span)`` with the evaluator's timeout; never raises ``Exception``.

    Returns:
        The outcome: an ok or failed ``EvalResult``, or no result when the evaluator skipped.
    """
    started = time.monotonic()
    try:
        with suppress_instrumentation(), anyio.fail_after(settings.timeout):
            value = await _call(evaluate, span)
        score = normalize(name, value)
    except TimeoutError:
        took = time.monotonic() - started
        error = f"timed out after {took:.1f} s (timeout={settings.timeout:g} s)"
        return Outcome(make_result(span, name, error=error), "timeout")
    except EvaluationFailed as exc:
        return Outcome(make_result(span, name, error=str(exc), attributes=getattr(exc, "attributes", None)), "failed")
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        return Outcome(make_result(span, name, error=error), "evaluator_error")
    if score is None:
        return Outcome(None)
    return Outcome(make_result(span, name, scores=score.scores, attributes=score.attributes))
