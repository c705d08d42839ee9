"""``Hallucination``: claim-level faithfulness of a response to its context, by an LLM judge.

Method (``PROMPT_VERSION`` in ``_prompts.py``):

1. One judge call extracts atomic, self-contained claims from the response (pronouns resolved;
   numbers, dates, conditions and hedges kept; greetings, questions and refusals skipped), each
   with the response sentence it came from.
2. One call per batch of ``batch_size`` claims verifies them against the context, returning per
   claim a verbatim evidence quote, a short reason, then the verdict ``supported`` |
   ``contradicted`` | ``unsupported`` (structured output, validated with pydantic, temperature 0).
   A claim true in the world but absent from the context is ``unsupported``.
3. score = supported / claims. No claims or no context: the score is ``None`` with a reason —
   never a silent 1.0 or 0.0. Malformed judge output is retried once, then the evaluation is
   recorded as failed. Evidence quotes not found in the context are flagged.
4. Counts per verdict, the prompt version, judge model, tokens and cost are stored with the score.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .._cost import compute_cost
from .._runtime import record_dropped
from .._span import Span
from ._base import SKIP, EvalScore, EvaluationFailed, check_run_settings, is_llm_span
from ._judge import Judge, JudgeError, make_judge
from ._lenient import loads_lenient
from ._prompts import (
    EXTRACT_SCHEMA,
    EXTRACT_SYSTEM,
    PROMPT_VERSION,
    VERIFY_SCHEMA,
    VERIFY_SYSTEM,
    Extraction,
    Verification,
    extract_user,
    verify_user,
)
from ._retrieved import RetrievedContext
from ._text import context_text, response_text, to_text

__all__ = ["PROMPT_VERSION", "ClaimResult", "Hallucination", "HallucinationReport", "default_filter"]

M = TypeVar("M", bound=BaseModel)
VERDICTS = ("supported", "contradicted", "unsupported")


def default_filter(span: Span) -> bool:
    """LLM provider spans that succeeded and produced text: not embeddings, not ``pii`` spans."""
    if not is_llm_span(span) or span.status != "ok" or span.retention_class == "pii":
        return False
    return "embed" not in span.name


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[\"'`‘’“”]", "", text)).strip().lower()


@dataclass
class ClaimResult:
    """One claim and its verdict."""

    claim: str
    verdict: str
    reason: str
    evidence: str
    source: str
    evidence_found: bool | None
    #: With retrieved chunks: the chunks (1 = the first) the evidence quote comes from.
    chunks: list[int] | None = None
    #: With retrieved chunks, for a claim not supported: ``"retrieval_gap"`` (no chunk discusses its
    #: subject: retrieval missed it) or ``"generation"`` (the chunks cover it and say otherwise or
    #: nothing: the model invented it); None when the judge did not say.
    cause: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``hallucination_details`` entry."""
        entry: dict[str, Any] = {
            "claim": self.claim,
            "verdict": self.verdict,
            "reason": self.reason,
            "evidence": self.evidence,
            "source": self.source,
            "evidence_found": self.evidence_found,
        }
        if self.chunks is not None:
            entry["chunks"] = self.chunks
            entry["cause"] = self.cause
        return entry


@dataclass
class _Usage:
    calls: int = 0
    tokens_input: int = 0
    tokens_output: int = 0
    cost_usd: float | None = 0.0
    model: str = ""


@dataclass
class HallucinationReport:
    """The full outcome of checking one response against one context."""

    score: float | None
    reason: str | None
    claims: list[ClaimResult] = field(default_factory=list)
    judge_calls: int = 0
    judge_tokens_input: int = 0
    judge_tokens_output: int = 0
    judge_cost_usd: float | None = 0.0
    judge_model: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Claims per verdict, plus ``evidence_not_found`` (quotes missing from the context)."""
        counts = {v: sum(1 for c in self.claims if c.verdict == v) for v in VERDICTS}
        counts["evidence_not_found"] = sum(1 for c in self.claims if c.evidence_found is False)
        if any(c.chunks is not None for c in self.claims):
            for cause in ("retrieval_gap", "generation"):
                counts[cause] = sum(1 for c in self.claims if c.cause == cause)
        return counts

    def summary(self, provider: str) -> dict[str, Any]:
        """The ``hallucination_eval`` attribute."""
        return {
            "score": self.score,
            "reason": self.reason,
            "claims": len(self.claims),
            "counts": self.counts,
            "prompt_version": PROMPT_VERSION,
            "judge_provider": provider,
            "judge_model": self.judge_model,
            "judge_calls": self.judge_calls,
            "judge_tokens": {"input": self.judge_tokens_input, "output": self.judge_tokens_output},
            "judge_cost_usd": self.judge_cost_usd,
            "notes": self.notes,
        }


class _Failed(EvaluationFailed):
    def __init__(self, message: str, attributes: dict[str, Any]) -> None:
        super().__init__(message)
        self.attributes = attributes


class Hallucination:
    """Score how much of a response its context supports, claim by claim, with an LLM judge.

    Example:
        >>> peekr.instrument(evaluators=[peekr.eval.Hallucination(model="gpt-4o-mini")])

    The context, by default: the documents retrieved in the same trace before the response (any
    retrieval span: a LangChain retriever, a Chroma or Qdrant query...); without any, the span's
    whole ``input``. An explicit ``context_extractor`` always wins.

    Each evaluated span gets ``attributes.eval_scores.hallucination`` (1.0 = every claim supported,
    0.0 = none; ``None`` with a reason when there is nothing to check), ``hallucination_eval``
    (counts, prompt version, judge model, tokens, cost) and, with ``detailed=True``,
    ``hallucination_details`` (one entry per claim).

    Args:
        context_extractor: ``span -> context``: a str, a list of documents, a messages list or a
            dict (flattened to text). Default: the documents retrieved earlier in the same trace
            (kept for ``context_ttl`` seconds, ``context_traces`` traces at most), else the span's
            whole ``input`` (everything the model saw).
        model: The judge model. ``"gpt-4o-mini"`` and other names go to an OpenAI-compatible
            endpoint; ``"anthropic/<model>"`` or ``"claude-..."`` to Anthropic.
        detailed: Also store ``hallucination_details`` (one entry per claim).
        judge: A judge client (``peekr.eval.OpenAIJudge(...)``, ``AnthropicJudge(...)`` or your own);
            overrides ``model``/``base_url``/``api_key``.
        base_url: OpenAI-compatible endpoint of the judge (vLLM, Ollama, Azure, a gateway...).
        api_key: The judge's API key (default from the environment).
        batch_size: Claims verified per judge call.
        max_claims: Claims checked per response at most (the rest are noted, not scored).
        max_context_chars: Context characters sent to the judge at most (the rest are cut, noted).
        name: The score's name (default ``"hallucination"``).
        sample_rate: Share of matching spans evaluated, in [0, 1].
        filter: ``span -> bool`` choosing spans; default ``default_filter`` (successful LLM spans,
            no embeddings, no ``retention_class="pii"`` spans: their content is not sent to a judge).
        timeout: Seconds one evaluation may take (all its judge calls) before it is recorded as failed.
        max_concurrency: Evaluations running at once.
        max_backlog: Spans waiting for evaluation; more are dropped and counted in ``peekr.stats()``.
        context_traces: Traces whose retrieved documents are kept for the default context at most
            (the least recently written are forgotten first, counted as ``context_evicted``).
        context_ttl: Seconds the retrieved documents of a trace are kept.

    Raises:
        TypeError: ``context_extractor``/``filter`` is not callable, or ``judge`` is not a judge.
        ValueError: a number is out of range or ``model`` is empty.
    """

    def __init__(
        self,
        context_extractor: Callable[[Span], Any] | None = None,
        model: str = "gpt-4o-mini",
        *,
        detailed: bool = True,
        judge: Judge | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = 20,
        max_claims: int = 100,
        max_context_chars: int = 100_000,
        name: str = "hallucination",
        sample_rate: float = 1.0,
        filter: Callable[[Span], bool] | None = None,
        timeout: float = 120.0,
        max_concurrency: int = 4,
        max_backlog: int = 1000,
        context_traces: int = 1000,
        context_ttl: float = 600.0,
    ) -> None:
        if context_extractor is not None and not callable(context_extractor):
            raise TypeError(
                "Hallucination(context_extractor=...) expects a callable span -> context, "
                f"got {type(context_extractor).__name__}: {context_extractor!r}"
            )
        if not isinstance(detailed, bool):
            raise TypeError(f"Hallucination(detailed=...) expects a bool, got {detailed!r}")
        for arg, value in (
            ("batch_size", batch_size),
            ("max_claims", max_claims),
            ("max_context_chars", max_context_chars),
            ("context_traces", context_traces),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Hallucination({arg}=...) must be a positive int, got {value!r}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"Hallucination(name=...) expects a non-empty str, got {name!r}")
        if isinstance(context_ttl, bool) or not isinstance(context_ttl, (int, float)) or not context_ttl > 0:
            raise ValueError(
                f"Hallucination(context_ttl=...) must be a positive number of seconds, got {context_ttl!r}"
            )
        settings = check_run_settings(
            "Hallucination",
            sample_rate=sample_rate,
            filter=filter if filter is not None else default_filter,
            timeout=timeout,
            max_concurrency=max_concurrency,
            max_backlog=max_backlog,
        )
        if judge is not None:
            if not callable(getattr(judge, "complete", None)):
                raise TypeError(f"Hallucination(judge=...) expects a judge with async complete(...), got {judge!r}")
            self.judge: Judge = judge
        else:
            self.judge = make_judge(model, base_url=base_url, api_key=api_key, timeout=min(60.0, float(timeout)))
        self.name = name
        self.context_extractor = context_extractor
        self.detailed = detailed
        self.batch_size = batch_size
        self.max_claims = max_claims
        self.max_context_chars = max_context_chars
        self.sample_rate = settings.sample_rate
        self.filter = settings.filter
        self.timeout = settings.timeout
        self.max_concurrency = settings.max_concurrency
        self.max_backlog = settings.max_backlog
        self.retrieved = RetrievedContext(
            lambda reason, n: record_dropped(f"evaluators.{name}", reason, n),
            max_traces=context_traces,
            ttl=float(context_ttl),
        )

    def __repr__(self) -> str:
        return f"Hallucination(judge={self.judge!r}, detailed={self.detailed})"

    # -- the evaluator protocol -------------------------------------------------------------------

    def observe(self, span: Span) -> None:
        """See every span (before the filter): keep the documents of retrieval spans for the default context."""
        if self.context_extractor is None:
            self.retrieved.observe(span)

    async def evaluate(self, span: Span) -> EvalScore | object:
        """Score one span (see the class docstring for what is stored)."""
        attributes = span.attributes
        if "output" not in attributes and "input" not in attributes:
            return SKIP  # content capture is off: nothing to judge
        response = response_text(attributes.get("output"))
        if self.context_extractor is None:
            documents = self.retrieved.documents(span)
            raw_context: Any = documents if documents else attributes.get("input")
        else:
            try:
                raw_context = self.context_extractor(span)
                if inspect.isawaitable(raw_context):
                    raw_context = await raw_context
            except Exception as exc:
                raise EvaluationFailed(f"context_extractor raised {type(exc).__name__}: {exc}") from exc
        chunks = _chunk_texts(raw_context) if (self.context_extractor is not None or documents) else None
        report = await self.check(
            context_text(raw_context), response, question=_question(attributes.get("input")), chunks=chunks
        )
        if self.context_extractor is None:
            report.notes.insert(
                0,
                f"context: {len(documents)} documents retrieved in this trace"
                if documents
                else "context: the span's input (no retrieval in this trace)",
            )
        return self._to_score(report)

    def prepare(self) -> None:
        """Import the judge's SDK (peekr calls this in a worker thread before the first evaluation)."""
        prepare = getattr(self.judge, "prepare", None)
        if callable(prepare):
            prepare()

    async def aclose(self) -> None:
        """Close the judge's client (called when peekr shuts down)."""
        await self.judge.aclose()

    def _to_score(self, report: HallucinationReport) -> EvalScore:
        extra: dict[str, Any] = {f"{self.name}_eval": report.summary(self.judge.provider)}
        if self.detailed and report.claims:
            key = "hallucination_details" if self.name == "hallucination" else f"{self.name}_details"
            extra[key] = [c.as_dict() for c in report.claims]
        return EvalScore(scores={self.name: report.score}, attributes=extra)

    # -- the method -------------------------------------------------------------------------------

    async def check(
        self, context: str, response: str, *, question: str | None = None, chunks: list[str] | None = None
    ) -> HallucinationReport:
        """Check ``response`` against ``context``; usable without peekr running.

        With ``chunks`` (the retrieved documents the context is made of), each claim also names the
        chunks its evidence comes from and, when not supported, its cause (``retrieval_gap`` or
        ``generation``), at no extra judge call.

        Returns:
            The report (score None with a reason when there is no context or no claim).

        Raises:
            EvaluationFailed: the judge failed (HTTP error, timeout) or answered malformed JSON twice.
        """
        usage = _Usage(model=self.judge.model)
        notes: list[str] = []
        if not response.strip():
            return self._report(None, "the response has no text to check", [], usage, notes)
        if not context.strip():
            return self._report(
                None, "no context to check against (the context extractor returned nothing)", [], usage, notes
            )
        if len(context) > self.max_context_chars:
            notes.append(f"context cut to {self.max_context_chars} of {len(context)} characters")
            context = context[: self.max_context_chars]
        extraction = await self._ask(
            EXTRACT_SYSTEM, extract_user(response, question), "claims", EXTRACT_SCHEMA, Extraction, usage, notes
        )
        claims = [c for c in extraction.claims if c.claim]
        if not claims:
            return self._report(
                None, "no checkable claims in the response (greeting, question or refusal)", [], usage, notes
            )
        if len(claims) > self.max_claims:
            notes.append(f"checked the first {self.max_claims} of {len(claims)} claims")
            claims = claims[: self.max_claims]
        normalized_context = _normalize(context)
        results: list[ClaimResult] = []
        for start in range(0, len(claims), self.batch_size):
            batch = claims[start : start + self.batch_size]
            numbered = [(i + 1, c.claim) for i, c in enumerate(batch)]
            verification = await self._ask(
                VERIFY_SYSTEM,
                verify_user(context, numbered),
                "verdicts",
                VERIFY_SCHEMA,
                Verification,
                usage,
                notes,
                expect_ids={i for i, _ in numbered},
            )
            by_id = {v.id: v for v in verification.verdicts}
            for i, claim in enumerate(batch, start=1):
                v = by_id[i]
                found = None if not v.evidence else _quoted(v.evidence, normalized_context)
                result = ClaimResult(claim.claim, v.verdict, v.reason, v.evidence, claim.source, found)
                if chunks is not None:
                    result.chunks = [
                        n for n, text in enumerate(chunks, 1) if v.evidence and _quoted(v.evidence, _normalize(text))
                    ]
                    result.cause = _cause(v.verdict, v.covered)
                results.append(result)
        supported = sum(1 for r in results if r.verdict == "supported")
        return self._report(supported / len(results), None, results, usage, notes)

    def _report(
        self, score: float | None, reason: str | None, claims: list[ClaimResult], usage: _Usage, notes: list[str]
    ) -> HallucinationReport:
        return HallucinationReport(
            score=score,
            reason=reason,
            claims=claims,
            judge_calls=usage.calls,
            judge_tokens_input=usage.tokens_input,
            judge_tokens_output=usage.tokens_output,
            judge_cost_usd=usage.cost_usd,
            judge_model=usage.model,
            notes=notes,
        )

    async def _ask(
        self,
        system: str,
        user: str,
        schema_name: str,
        schema: dict[str, Any],
        model: type[M],
        usage: _Usage,
        notes: list[str],
        expect_ids: set[int] | None = None,
    ) -> M:
        problem = ""
        for attempt in (1, 2):
            try:
                reply = await self.judge.complete(system, user, schema_name, schema)
            except JudgeError as exc:
                raise _Failed(str(exc), self._partial(usage, notes, str(exc))) from exc
            usage.calls += 1
            usage.model = reply.model or usage.model
            usage.tokens_input += reply.tokens_input or 0
            usage.tokens_output += reply.tokens_output or 0
            cost = compute_cost(
                {
                    "provider": self.judge.provider,
                    "model": reply.model or self.judge.model,
                    "tokens_input": reply.tokens_input or 0,
                    "tokens_output": reply.tokens_output or 0,
                }
            )
            usage.cost_usd = None if cost is None or usage.cost_usd is None else usage.cost_usd + cost
            try:
                parsed = model.model_validate(loads_lenient(reply.text))
                if expect_ids is not None:
                    got = [v.id for v in parsed.verdicts]  # type: ignore[attr-defined]
                    if set(got) != expect_ids or len(got) != len(expect_ids):
                        raise ValueError(f"verdict ids {sorted(got)} do not match claim ids {sorted(expect_ids)}")
                return parsed
            except (ValidationError, ValueError) as exc:
                problem = _describe(exc, reply.text)
                if attempt == 1:
                    notes.append(f"malformed {schema_name} answer retried: {problem}")
        message = f"the judge returned malformed {schema_name} output twice: {problem}"
        raise _Failed(message, self._partial(usage, notes, message))

    def _partial(self, usage: _Usage, notes: list[str], error: str) -> dict[str, Any]:
        report = self._report(None, error, [], usage, notes)
        return {f"{self.name}_eval": report.summary(self.judge.provider)}


def _cause(verdict: str, covered: bool | None) -> str | None:
    """Why a claim is not supported: retrieval missed its subject, or generation went beyond the chunks."""
    if verdict == "supported":
        return None
    if verdict == "contradicted":
        return "generation"  # the chunks discuss it and say otherwise
    return None if covered is None else ("generation" if covered else "retrieval_gap")


def _chunk_texts(raw: Any) -> list[str] | None:
    """The context as a list of chunks, when it is one (a list of strings or documents)."""
    if not isinstance(raw, list) or not raw or not all(isinstance(item, (str, dict)) for item in raw):
        return None
    if any(isinstance(item, dict) and "role" in item for item in raw):
        return None  # a messages list, not documents
    return [to_text(item) for item in raw]


def _quoted(evidence: str, normalized_context: str) -> bool:
    """Whether a quote appears in the context; ``...`` / ``…`` may join fragments of it."""
    fragments = [_normalize(f) for f in re.split(r"\.\.\.|…", evidence)]
    fragments = [f for f in fragments if f]
    return bool(fragments) and all(f in normalized_context for f in fragments)


def _describe(exc: Exception, text: str) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        detail = f"{where}: {first['msg']}"
    else:
        detail = str(exc)
    snippet = " ".join(text.split())[:120]
    return f"{detail} (got {snippet!r})"


def _question(value: Any) -> str | None:
    """The last user message of the input, to resolve references in the response."""
    messages: Any = value
    if isinstance(value, dict):
        messages = value.get("messages") or value.get("contents") or value.get("input")
    if isinstance(messages, str):
        return messages[-4000:] or None
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") in ("user", None):
                text = to_text(message.get("content", message.get("parts")))
                if text:
                    return text[-4000:]
    return None
