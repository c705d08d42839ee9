"""Everything that travels on the bus: spans, evaluation results and feedback.

Evaluation results and feedback arrive after their span and are records of their own, keyed
by span_id / trace_id (DESIGN.md), so a stored span never has to be rewritten on the wire.
Local sinks merge results into ``attributes.eval_scores`` and friends.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._span import Span

__all__ = ["EvalResult", "Event", "Feedback", "Span", "merge_eval_result"]


class EvalResult(BaseModel):
    """The outcome of one evaluator on one span.

    ``scores`` are merged into the span's ``attributes.eval_scores``; each key of
    ``attributes`` (for example ``hallucination_details``) is set on the span's attributes.
    A failed evaluation has ``status="failed"``, an ``error`` and no scores.
    """

    model_config = ConfigDict(extra="forbid")

    record: Literal["eval"] = "eval"
    span_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    evaluator: str
    status: Literal["ok", "failed"] = "ok"
    scores: dict[str, float | None] = Field(default_factory=dict)
    attributes: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    created_at: str
    tenant_id: str | None = None


class Feedback(BaseModel):
    """A human rating of a trace (several may exist; the latest counts for export)."""

    model_config = ConfigDict(extra="forbid")

    record: Literal["feedback"] = "feedback"
    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    span_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    rating: Literal["good", "bad"] | None = None
    score: float | None = None
    note: str | None = None
    created_at: str
    tenant_id: str | None = None


Event = Span | EvalResult | Feedback


def merge_eval_result(attributes: dict[str, Any], result: EvalResult) -> dict[str, Any]:
    """Apply an evaluation result to a span's attributes dict (in place) and return it."""
    if result.status == "ok" and result.scores:
        scores = dict(attributes.get("eval_scores") or {})
        scores.update(result.scores)
        attributes["eval_scores"] = scores
    if result.status != "ok":
        errors = dict(attributes.get("eval_errors") or {})
        errors[result.evaluator] = result.error
        attributes["eval_errors"] = errors
    attributes.update(result.attributes)
    return attributes
