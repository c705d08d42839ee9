"""Judge evaluators beyond hallucination: answer relevance, context relevance, a rubric, citations.

Each makes one judge call per evaluated span (retried once on a malformed answer), stores
``{name: score}`` in ``eval_scores`` and ``{name}_eval`` (reason or per-item verdicts, prompt
version, judge model, tokens) on the span, and runs on the same evaluator runner as
``Hallucination`` (bounded concurrency, timeouts, sampling, never on the caller's path).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .._cost import compute_cost
from .._runtime import record_dropped
from .._span import Span
from ._base import SKIP, EvalScore, EvaluationFailed, check_run_settings
from ._graded_prompts import (
    ANSWER_RELEVANCE_SYSTEM,
    CITATION_SYSTEM,
    CONTEXT_RELEVANCE_SYSTEM,
    PROMPT_VERSIONS,
    RUBRIC_SYSTEM,
    AnswerRelevanceAnswer,
    CitationAnswer,
    ContextRelevanceAnswer,
    RubricAnswer,
    schema_of,
    tagged,
)
from ._judge import Judge, JudgeError, make_judge
from ._lenient import loads_lenient
from ._retrieved import RetrievedContext
from ._text import response_text, to_text
from .hallucination import _question, default_filter

__all__ = ["AnswerRelevance", "CitationAccuracy", "ContextRelevance", "Rubric", "loads_lenient"]

M = TypeVar("M", bound=BaseModel)
_CITATION = re.compile(r"\[(\d+)\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class _JudgeEvaluator:
    """Judge construction, run settings, one-retry structured calls and usage accounting."""

    kind = "judge"

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        *,
        name: str | None = None,
        judge: Judge | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        sample_rate: float = 1.0,
        filter: Callable[[Span], bool] | None = None,
        timeout: float = 60.0,
        max_concurrency: int = 4,
        max_backlog: int = 1000,
    ) -> None:
        """See the class docstring; ``name`` (the score's name) defaults to the evaluator's kind."""
        owner = type(self).__name__
        name = self.kind if name is None else name
        if not isinstance(name, str) or not name:
            raise TypeError(f"{owner}(name=...) expects a non-empty str, got {name!r}")
        settings = check_run_settings(
            owner,
            sample_rate=sample_rate,
            filter=filter if filter is not None else default_filter,
            timeout=timeout,
            max_concurrency=max_concurrency,
            max_backlog=max_backlog,
        )
        if judge is not None:
            if not callable(getattr(judge, "complete", None)):
                raise TypeError(f"{owner}(judge=...) expects a judge with async complete(...), got {judge!r}")
            self.judge: Judge = judge
        else:
            self.judge = make_judge(model, base_url=base_url, api_key=api_key, timeout=min(60.0, float(timeout)))
        self.name = name
        self.sample_rate = settings.sample_rate
        self.filter = settings.filter
        self.timeout = settings.timeout
        self.max_concurrency = settings.max_concurrency
        self.max_backlog = settings.max_backlog

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, judge={self.judge!r})"

    def prepare(self) -> None:
        """Import the judge's SDK before the first evaluation (called in a worker thread)."""
        prepare = getattr(self.judge, "prepare", None)
        if callable(prepare):
            prepare()

    async def aclose(self) -> None:
        """Close the judge's client."""
        await self.judge.aclose()

    async def _ask(self, system: str, user: str, schema_name: str, model: type[M], usage: dict[str, Any]) -> M:
        problem = ""
        for attempt in (1, 2):
            try:
                reply = await self.judge.complete(system, user, schema_name, schema_of(model))
            except JudgeError as exc:
                raise EvaluationFailed(str(exc)) from exc
            usage["judge_calls"] += 1
            usage["judge_model"] = reply.model or self.judge.model
            usage["judge_tokens_input"] += reply.tokens_input or 0
            usage["judge_tokens_output"] += reply.tokens_output or 0
            cost = compute_cost(
                {
                    "provider": self.judge.provider,
                    "model": usage["judge_model"],
                    "tokens_input": reply.tokens_input or 0,
                    "tokens_output": reply.tokens_output or 0,
                }
            )
            known = usage["judge_cost_usd"]
            usage["judge_cost_usd"] = None if cost is None or known is None else known + cost
            try:
                return model.model_validate(loads_lenient(reply.text))
            except (ValidationError, ValueError) as exc:
                snippet = " ".join(reply.text.split())[:120]
                problem = f"{type(exc).__name__}: {str(exc).splitlines()[0]} (got {snippet!r})"
                if attempt == 1:
                    usage["notes"].append(f"malformed {schema_name} answer retried: {problem}")
        raise EvaluationFailed(f"the judge returned malformed {schema_name} output twice: {problem}")

    def _usage(self) -> dict[str, Any]:
        return {
            "prompt_version": PROMPT_VERSIONS[self.kind],
            "judge_model": self.judge.model,
            "judge_calls": 0,
            "judge_tokens_input": 0,
            "judge_tokens_output": 0,
            "judge_cost_usd": 0.0,
            "notes": [],
        }

    def _result(self, score: float | None, usage: dict[str, Any], **details: Any) -> EvalScore:
        return EvalScore(scores={self.name: score}, attributes={f"{self.name}_eval": {**usage, **details}})


class AnswerRelevance(_JudgeEvaluator):
    """Does the answer address the question? 1.0 relevant, 0.5 partly, 0.0 irrelevant.

    Example:
        >>> peekr.instrument(evaluators=[peekr.eval.AnswerRelevance(model="gpt-4o-mini")])
    """

    kind = "answer_relevance"

    async def evaluate(self, span: Span) -> EvalScore | object:
        """Score one span."""
        if "output" not in span.attributes:
            return SKIP
        usage = self._usage()
        question = _question(span.attributes.get("input"))
        answer = response_text(span.attributes.get("output"))
        if not question or not answer.strip():
            return self._result(None, usage, reason="no question or no answer to judge")
        verdict = await self._ask(
            ANSWER_RELEVANCE_SYSTEM, tagged(question=question, answer=answer), "relevance", AnswerRelevanceAnswer, usage
        )
        score = {"relevant": 1.0, "partly": 0.5, "irrelevant": 0.0}[verdict.relevance]
        return self._result(score, usage, relevance=verdict.relevance, reason=verdict.reason)


class _WithChunks(_JudgeEvaluator):
    """Evaluators that read the retrieved chunks: the trace's retrievals, or ``chunks_extractor``."""

    #: Chunks read per span when ``max_chunks`` is not given.
    default_max_chunks = 20

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        *,
        chunks_extractor: Callable[[Span], Any] | None = None,
        max_chunks: int | None = None,
        name: str | None = None,
        judge: Judge | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        sample_rate: float = 1.0,
        filter: Callable[[Span], bool] | None = None,
        timeout: float = 60.0,
        max_concurrency: int = 4,
        max_backlog: int = 1000,
    ) -> None:
        """See the class docstring; ``max_chunks`` defaults to ``default_max_chunks``."""
        super().__init__(
            model, name=name, judge=judge, base_url=base_url, api_key=api_key, sample_rate=sample_rate,
            filter=filter, timeout=timeout, max_concurrency=max_concurrency, max_backlog=max_backlog,
        )  # fmt: skip
        self._init_chunks(chunks_extractor, self.default_max_chunks if max_chunks is None else max_chunks)

    def _init_chunks(self, chunks_extractor: Callable[[Span], Any] | None, max_chunks: int) -> None:
        if chunks_extractor is not None and not callable(chunks_extractor):
            raise TypeError(
                f"{type(self).__name__}(chunks_extractor=...) expects a callable span -> list of chunks, "
                f"got {chunks_extractor!r}"
            )
        if isinstance(max_chunks, bool) or not isinstance(max_chunks, int) or max_chunks < 1:
            raise ValueError(f"{type(self).__name__}(max_chunks=...) must be a positive int, got {max_chunks!r}")
        self.chunks_extractor = chunks_extractor
        self.max_chunks = max_chunks
        name = self.name
        self.retrieved = RetrievedContext(
            lambda reason, n: record_dropped(f"evaluators.{name}", reason, n), max_traces=1000, ttl=600.0
        )

    def observe(self, span: Span) -> None:
        """See every span: keep the documents of retrieval spans."""
        if self.chunks_extractor is None:
            self.retrieved.observe(span)

    async def _chunks(self, span: Span) -> list[str]:
        if self.chunks_extractor is None:
            return self.retrieved.documents(span)[: self.max_chunks]
        try:
            value = self.chunks_extractor(span)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            raise EvaluationFailed(f"chunks_extractor raised {type(exc).__name__}: {exc}") from exc
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        return [to_text(v) for v in value][: self.max_chunks]


class ContextRelevance(_WithChunks):
    """Are the retrieved chunks relevant to the question? Score: the share judged relevant.

    The chunks: the documents retrieved earlier in the same trace (any retrieval span), or
    ``chunks_extractor(span)`` (a list of strings). Per-chunk verdicts go to ``{name}_eval``.
    """

    kind = "context_relevance"

    async def evaluate(self, span: Span) -> EvalScore | object:
        """Score one span."""
        usage = self._usage()
        question = _question(span.attributes.get("input"))
        chunks = await self._chunks(span)
        if not question or not chunks:
            return self._result(None, usage, reason="no question or no retrieved chunks to judge")
        numbered = [{"id": i, "text": text} for i, text in enumerate(chunks, 1)]
        answer = await self._ask(
            CONTEXT_RELEVANCE_SYSTEM,
            tagged(question=question, chunks=numbered),
            "chunks",
            ContextRelevanceAnswer,
            usage,
        )
        by_id = {c.id: c for c in answer.chunks}
        if set(by_id) != {c["id"] for c in numbered}:
            raise EvaluationFailed(f"the judge answered chunk ids {sorted(by_id)} for ids 1..{len(numbered)}")
        verdicts = [{"id": i, "relevant": by_id[i].relevant, "reason": by_id[i].reason} for i in by_id]
        relevant = sum(1 for v in verdicts if v["relevant"])
        return self._result(relevant / len(verdicts), usage, chunks=sorted(verdicts, key=lambda v: v["id"]))


class Rubric(_JudgeEvaluator):
    """Your own criteria, each scored 1..``scale`` with a reason; the score is the mean, mapped to [0, 1].

    Example:
        >>> peekr.eval.Rubric(criteria={
        ...     "polite": "The answer is courteous and never blames the user.",
        ...     "actionable": "The answer ends with a concrete next step.",
        ... }, scale=5, name="support_rubric")
    """

    kind = "rubric"

    def __init__(
        self,
        criteria: Mapping[str, str] | Sequence[str],
        *,
        scale: int = 5,
        model: str = "gpt-4o-mini",
        name: str = "rubric",
        judge: Judge | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        sample_rate: float = 1.0,
        filter: Callable[[Span], bool] | None = None,
        timeout: float = 60.0,
        max_concurrency: int = 4,
        max_backlog: int = 1000,
    ) -> None:
        if isinstance(criteria, str) or not criteria:
            raise ValueError("Rubric(criteria=...) needs a non-empty dict {name: description} or list of criteria")
        items = dict(criteria) if isinstance(criteria, Mapping) else {str(c): str(c) for c in criteria}
        if not all(isinstance(k, str) and k and isinstance(v, str) for k, v in items.items()):
            raise TypeError("Rubric(criteria=...) names and descriptions must be non-empty strings")
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
            raise ValueError(f"Rubric(scale=...) must be an int of at least 2, got {scale!r}")
        super().__init__(
            model, name=name, judge=judge, base_url=base_url, api_key=api_key, sample_rate=sample_rate,
            filter=filter, timeout=timeout, max_concurrency=max_concurrency, max_backlog=max_backlog,
        )  # fmt: skip
        self.criteria = items
        self.scale = scale

    async def evaluate(self, span: Span) -> EvalScore | object:
        """Score one span."""
        if "output" not in span.attributes:
            return SKIP
        usage = self._usage()
        answer = response_text(span.attributes.get("output"))
        if not answer.strip():
            return self._result(None, usage, reason="no answer to grade")
        user = tagged(
            question=_question(span.attributes.get("input")) or "",
            answer=answer,
            scale=f"1 to {self.scale}",
            criteria=[{"name": k, "description": v} for k, v in self.criteria.items()],
        )
        graded = await self._ask(RUBRIC_SYSTEM, user, "criteria", RubricAnswer, usage)
        by_name = {c.name: c for c in graded.criteria}
        missing = [name for name in self.criteria if name not in by_name]
        if missing:
            raise EvaluationFailed(f"the judge did not grade the criteria {missing}")
        points = {n: min(by_name[n].score, self.scale) for n in self.criteria}
        details = [{"name": n, "score": points[n], "reason": by_name[n].reason} for n in self.criteria]
        mean = sum((p - 1) / (self.scale - 1) for p in points.values()) / len(points)
        return self._result(mean, usage, scale=self.scale, criteria=details)


class CitationAccuracy(_WithChunks):
    """Do the answer's citations (``[1]``, ``[2]``... = the 1st, 2nd... retrieved chunk) exist and
    support the sentence that cites them? Score: the share of citations that do; None without any.

    A citation of a chunk that does not exist fails without asking the judge.
    """

    kind = "citation_accuracy"
    default_max_chunks = 50

    async def evaluate(self, span: Span) -> EvalScore | object:
        """Score one span."""
        if "output" not in span.attributes:
            return SKIP
        usage = self._usage()
        answer = response_text(span.attributes.get("output"))
        chunks = await self._chunks(span)
        pairs: list[dict[str, Any]] = []
        for sentence in _SENTENCE.split(answer.strip()):
            for cited in dict.fromkeys(int(n) for n in _CITATION.findall(sentence)):
                pairs.append({"sentence": _CITATION.sub("", sentence).strip(), "chunk": cited})
        if not pairs:
            return self._result(None, usage, reason="the answer cites no source")
        results: list[dict[str, Any]] = []
        to_judge = []
        for i, pair in enumerate(pairs, 1):
            if not 1 <= pair["chunk"] <= len(chunks):
                results.append({**pair, "supported": False, "reason": f"there is no chunk {pair['chunk']}"})
            else:
                to_judge.append({"id": i, "sentence": pair["sentence"], "chunk": chunks[pair["chunk"] - 1]})
                results.append({**pair, "id": i})
        if to_judge:
            answer_ = await self._ask(CITATION_SYSTEM, tagged(citations=to_judge), "citations", CitationAnswer, usage)
            by_id = {c.id: c for c in answer_.citations}
            if set(by_id) != {c["id"] for c in to_judge}:
                raise EvaluationFailed(f"the judge answered citation ids {sorted(by_id)}")
            for result in results:
                if "id" in result:
                    verdict = by_id[result.pop("id")]
                    result.update(supported=verdict.supported, reason=verdict.reason)
        supported = sum(1 for r in results if r["supported"])
        return self._result(supported / len(results), usage, citations=results)
