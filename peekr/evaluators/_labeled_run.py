"""Run a judge evaluator on every case of a labeled file (what ``peekr eval-judge`` measures).

Hallucination cases go through ``Hallucination.check`` (context and response as given). The other
evaluators score a span built from the case (the question as the last user message, the answer
as the output, the chunks read by ``chunks_extractor``), exactly as they score a live span.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import anyio

from .._span import Span, SpanAttributes, iso_utc, new_span_id, new_trace_id
from ._base import EvalScore, EvaluationFailed
from ._graded import AnswerRelevance, CitationAccuracy, ContextRelevance, Rubric
from ._labeled import FORMATS, Case, JudgeMetrics, metrics
from .hallucination import Hallucination

__all__ = ["LabeledJudge", "judge_labeled"]

_CHUNKS_KEY = "labeled_chunks"


def _chunks(span: Span) -> Any:
    return span.attributes.get(_CHUNKS_KEY)


class LabeledJudge:
    """Builds the evaluator for each case (one per rubric criteria set, all on one judge client).

    Raises:
        ValueError / TypeError: a bad model or option (from the evaluator's constructor).
    """

    def __init__(
        self,
        evaluator: str,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        threshold: float | None = None,
        scale: int = 5,
    ) -> None:
        self.kind = evaluator
        self.format = FORMATS[evaluator]
        self.threshold = self.format.threshold if threshold is None else threshold
        self.timeout = timeout
        self.scale = scale
        self._rubrics: dict[tuple[tuple[str, str], ...], Rubric] = {}
        common: dict[str, Any] = {"model": model, "base_url": base_url, "api_key": api_key, "timeout": timeout}
        self.first: Any
        if evaluator == "hallucination":
            self.first = Hallucination(**common)
        elif evaluator == "answer_relevance":
            self.first = AnswerRelevance(**common)
        elif evaluator == "context_relevance":
            self.first = ContextRelevance(chunks_extractor=_chunks, **common)
        elif evaluator == "citation_accuracy":
            self.first = CitationAccuracy(chunks_extractor=_chunks, **common)
        else:  # rubric: the criteria come with each case; this one only holds the judge client
            self.first = Rubric({"criterion": "placeholder"}, scale=scale, **common)
        self.name: str = self.first.name

    def evaluator_for(self, case: Case) -> Any:
        """The evaluator that scores ``case``."""
        if self.kind != "rubric":
            return self.first
        criteria = case.fields["criteria"]
        key = tuple(criteria.items())
        if key not in self._rubrics:
            self._rubrics[key] = Rubric(criteria, scale=self.scale, judge=self.first.judge, timeout=self.timeout)
        return self._rubrics[key]

    def prepare(self) -> None:
        """Import the judge's SDK."""
        self.first.prepare()

    async def aclose(self) -> None:
        """Close the judge client (shared by every evaluator built here)."""
        await self.first.aclose()

    async def score(self, case: Case) -> tuple[float | None, dict[str, Any]]:
        """The evaluator's score for one case and the row details (reason, cost, tokens).

        Raises:
            EvaluationFailed, TimeoutError, Exception: the evaluation failed.
        """
        if self.kind == "hallucination":
            report = await self.first.check(case.context, case.response, question=case.question)
            return report.score, {
                "reason": report.reason,
                "cost_usd": report.judge_cost_usd,
                "tokens": (report.judge_tokens_input, report.judge_tokens_output),
                "verdicts": [c.verdict for c in report.claims],
            }
        result = await self.evaluator_for(case).evaluate(self._span(case))
        if not isinstance(result, EvalScore):
            raise EvaluationFailed(f"the {self.name} evaluator skipped the case")
        info = result.attributes.get(f"{self.name}_eval") or {}
        row: dict[str, Any] = {
            "reason": info.get("reason"),
            "cost_usd": info.get("judge_cost_usd"),
            "tokens": (info.get("judge_tokens_input", 0), info.get("judge_tokens_output", 0)),
        }
        for key in ("relevance", "chunks", "criteria", "citations"):
            if key in info:
                row[key] = info[key]
        return result.scores.get(self.name), row

    def _span(self, case: Case) -> Span:
        now = iso_utc(time.time_ns())
        attributes: dict[str, Any] = {"provider": "labeled", "output": case.fields.get("answer", "")}
        question = case.fields.get("question")
        attributes["input"] = [{"role": "user", "content": question}] if question else []
        if "chunks" in case.fields:
            attributes[_CHUNKS_KEY] = case.fields["chunks"]
        return Span(
            trace_id=new_trace_id(),
            span_id=new_span_id(),
            name="eval-judge",
            start_time=now,
            end_time=now,
            duration_ms=0.0,
            attributes=cast(SpanAttributes, attributes),
        )


def _describe(exc: Exception) -> str:
    """What went wrong with one case, as the user reads it (no internal class names)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, EvaluationFailed):  # its message already says what failed
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def judge_labeled(
    judge: LabeledJudge,
    cases: list[Case],
    *,
    concurrency: int,
    on_case: Callable[[], None] = lambda: None,
) -> tuple[JudgeMetrics, list[dict[str, Any]]]:
    """Run the evaluator on every labeled case; return the metrics and one row per case."""
    rows: list[dict[str, Any]] = [{} for _ in cases]
    limiter = anyio.CapacityLimiter(concurrency)
    positive, negative = judge.format.classes
    judge.prepare()

    async def one(i: int, case: Case) -> None:
        row: dict[str, Any] = {"id": case.id, "label": case.label, "predicted": None, "score": None, "error": None}
        async with limiter:
            try:
                with anyio.fail_after(judge.timeout):
                    score, details = await judge.score(case)
            except Exception as exc:  # a failed case counts as wrong; the run goes on
                row["error"] = _describe(exc)
                info = (getattr(exc, "attributes", None) or {}).get(f"{judge.name}_eval") or {}
                row["cost_usd"] = info.get("judge_cost_usd", 0.0)
                row["tokens"] = tuple((info.get("judge_tokens") or {}).get(k, 0) for k in ("input", "output"))
            else:
                row.update(details)
                row["score"] = score
                if score is not None:
                    row["predicted"] = positive if score >= judge.threshold else negative
        rows[i] = row
        on_case()

    try:
        async with anyio.create_task_group() as tg:
            for i, case in enumerate(cases):
                tg.start_soon(one, i, case)
    finally:
        with anyio.CancelScope(shield=True):
            await judge.aclose()
    result = metrics(
        [r["label"] for r in rows],
        [r["predicted"] for r in rows],
        [r["error"] is not None for r in rows],
        [r.get("cost_usd") for r in rows],
        [r.get("tokens") or (0, 0) for r in rows],
        classes=judge.format.classes,
    )
    return result, rows
