"""OTLP spans -> Peekr wire records (spans, evaluation results, feedback); the table is in docs/otlp-ingest.md.

Three sources are understood: the OpenTelemetry GenAI semantic conventions (current ``gen_ai.*``
names and the older ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` ones, as OpenLLMetry
writes them), OpenInference (``llm.*``, ``input.value``, ``retrieval.documents.N.*``), and
Peekr's own ``OTLPSink`` (rebuilt exactly by ``_otlp_peekr``). Attributes with no Peekr meaning
are kept under their own names, so a non-LLM span stays a plain span of its trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._cost import compute_cost
from .._span import SpanAttributes, iso_utc
from ._otlp_content import Reader, read_content
from ._otlp_decode import OtelSpan
from ._otlp_peekr import (
    FEEDBACK_SPAN,
    is_peekr_eval,
    is_peekr_span,
    loads_if_json,
    peekr_eval,
    peekr_feedback,
    peekr_span,
)

__all__ = ["MappedBatch", "map_spans", "rejection_summary"]

#: ``gen_ai.provider.name`` well-known values -> Peekr's ``provider`` (the names its price table uses).
_PROVIDERS = {"aws.bedrock": "bedrock", "gcp.gemini": "gemini", "gcp.vertex_ai": "vertex_ai",
              "gcp.gen_ai": "gemini", "azure.ai.openai": "azure", "azure.ai.inference": "azure"}  # fmt: skip
#: ``openinference.span.kind`` / ``gen_ai.operation.name`` -> Peekr's ``kind`` (LLM calls have none, as Peekr's own).
_KINDS = {"CHAIN": "chain", "TOOL": "tool", "AGENT": "agent", "RETRIEVER": "retrieval", "RERANKER": "reranker",
          "GUARDRAIL": "guardrail", "EVALUATOR": "evaluator", "execute_tool": "tool", "invoke_agent": "agent",
          "create_agent": "agent", "retrieval": "retrieval", "invoke_workflow": "chain"}  # fmt: skip
_REQUEST = {"gen_ai.request.temperature": "temperature", "gen_ai.request.top_p": "top_p",
            "gen_ai.request.top_k": "top_k", "gen_ai.request.max_tokens": "max_tokens",
            "gen_ai.request.seed": "seed", "gen_ai.request.frequency_penalty": "frequency_penalty",
            "gen_ai.request.presence_penalty": "presence_penalty", "gen_ai.request.stop_sequences": "stop"}  # fmt: skip
_TOKENS: dict[str, tuple[str, ...]] = {
    "tokens_input": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    "tokens_output": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion"),
    "tokens_total": ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total"),
    "tokens_cache_read": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                          "llm.token_count.prompt_details.cache_read"),
    "tokens_cache_write": ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens",
                           "llm.token_count.prompt_details.cache_write"),
    "tokens_reasoning": ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
                         "llm.token_count.completion_details.reasoning"),
}  # fmt: skip
#: Flattened lists: ``prefix.N.rest`` attributes (OpenInference messages and documents, old GenAI prompts).
_INDEXED = ("llm.input_messages.", "llm.output_messages.", "gen_ai.prompt.", "gen_ai.completion.",
            "retrieval.documents.", "llm.tools.")  # fmt: skip
_KNOWN_KEYS = frozenset(SpanAttributes.__annotations__) | {"kind", "retrieval", "indexing", "framework"}
#: Peekr attributes a sender may set by their own name (plain text): ``feature``, ``endpoint``, ...
_FREE_TEXT_KEYS = frozenset(("feature", "endpoint", "experiment_variant", "session_id", "user_id"))
_EVAL_EVENT = "gen_ai.evaluation.result"
_MAX_ERRORS_LISTED = 10


@dataclass
class MappedBatch:
    """Wire records built from one request, each with the index of the OTLP span it came from."""

    spans: list[dict[str, Any]] = field(default_factory=list)
    span_origin: list[int] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    #: The OTLP spans an eval result came from: its carrier spans (Peekr), or the span whose event it was.
    eval_origin: list[tuple[int, ...]] = field(default_factory=list)
    #: True when the eval result is its carrier spans' only record (a rejection rejects those spans).
    eval_is_span: list[bool] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    feedback_origin: list[int] = field(default_factory=list)
    #: OTLP span index -> why it cannot be stored.
    rejected: dict[int, str] = field(default_factory=dict)


def map_spans(spans: list[OtelSpan]) -> MappedBatch:
    """Map every span; a span that cannot be read is listed in ``rejected``, never raised."""
    out = MappedBatch()
    carriers: dict[tuple[str, str, Any, int], list[tuple[int, OtelSpan]]] = {}
    for index, span in enumerate(spans):
        problem = _id_problem(span)
        if problem is not None:
            out.rejected[index] = problem
            continue
        try:
            if is_peekr_eval(span):
                key = (span.trace_id, span.parent_id, span.attributes.get("peekr.evaluator"), span.start_ns)
                carriers.setdefault(key, []).append((index, span))
                continue
            if span.name == FEEDBACK_SPAN and is_peekr_span(span):
                out.feedback.append(peekr_feedback(span))
                out.feedback_origin.append(index)
                continue
            record = peekr_span(span) if is_peekr_span(span) else _foreign_span(span)
            events = [] if is_peekr_span(span) else _evaluation_events(span)
        except Exception as exc:  # any odd value must cost its span, not the request
            out.rejected[index] = f"span {span.span_id}: cannot be read: {type(exc).__name__}: {exc}"[:300]
            continue
        out.spans.append(record)
        out.span_origin.append(index)
        for event in events:
            out.evals.append(event)
            out.eval_origin.append((index,))
            out.eval_is_span.append(False)
    for group in carriers.values():
        try:
            record = peekr_eval([span for _, span in group])
        except Exception as exc:
            for index, _ in group:
                out.rejected[index] = f"evaluation span cannot be read: {type(exc).__name__}: {exc}"[:300]
            continue
        out.evals.append(record)
        out.eval_origin.append(tuple(index for index, _ in group))
        out.eval_is_span.append(True)
    return out


def _id_problem(span: OtelSpan) -> str | None:
    if len(span.trace_id) != 32 or span.trace_id == "0" * 32:
        return f"span {span.span_id or '?'}: trace_id must be 16 bytes, not all zero (got {span.trace_id!r})"
    if len(span.span_id) != 16 or span.span_id == "0" * 16:
        return f"span in trace {span.trace_id}: span_id must be 8 bytes, not all zero (got {span.span_id!r})"
    if span.parent_id and len(span.parent_id) != 16:
        return f"span {span.span_id}: parent_span_id must be 8 bytes or empty (got {span.parent_id!r})"
    return None


def _foreign_span(span: OtelSpan) -> dict[str, Any]:
    r = Reader(span.attributes)
    out: dict[str, Any] = {}
    params = loads_if_json(r.get("llm.invocation_parameters"))
    params = dict(params) if isinstance(params, Mapping) else {}
    model = r.get("gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "embedding.model_name")
    if model is None and isinstance(params.get("model"), str):
        model = params["model"]
    r.get("gen_ai.request.model", "llm.model_name")  # the same call's other names: consumed
    if model is not None:
        out["model"] = str(model)
    provider = r.get("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
    if provider is not None:
        out["provider"] = _PROVIDERS.get(str(provider), str(provider).lower())
    r.get("llm.system", "gen_ai.system")
    for key, names in _TOKENS.items():
        value = r.get(*names)
        if isinstance(value, int) and not isinstance(value, bool):
            out[key] = value
    if "tokens_total" not in out and isinstance(out.get("tokens_input"), int) and "tokens_output" in out:
        out["tokens_total"] = out["tokens_input"] + out["tokens_output"]
    for key, names in (("response_id", ("gen_ai.response.id",)),
                       ("session_id", ("gen_ai.conversation.id", "session.id")),
                       ("user_id", ("user.id", "enduser.id", "gen_ai.user.id"))):  # fmt: skip
        value = r.get(*names)
        if value is not None:
            out[key] = str(value)
    reasons = r.get("gen_ai.response.finish_reasons", "llm.finish_reason")
    if isinstance(reasons, list):
        reasons = reasons[0] if reasons else None
    if reasons is not None:
        out["finish_reason"] = str(reasons)
    if r.get("gen_ai.request.stream", "gen_ai.is_streaming", "llm.is_streaming") is True:
        out["stream"] = True
    first_chunk = r.get("gen_ai.response.time_to_first_chunk")
    if isinstance(first_chunk, (int, float)) and not isinstance(first_chunk, bool):
        out["ttft_ms"] = first_chunk * 1000
    request = {key: value for name, key in _REQUEST.items() if (value := r.get(name)) is not None}
    params.pop("model", None)
    request = {**params, **request}
    if request:
        out["request"] = request
    cost = r.get("llm.cost.total", "gen_ai.usage.cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        out["cost_usd"] = float(cost)
    read_content(r, out)
    kind = _KINDS.get(str(r.get("openinference.span.kind") or ""), _KINDS.get(str(span.attributes.get(
        "gen_ai.operation.name") or "")))  # fmt: skip
    if kind is not None:
        out["kind"] = kind
    _retrieval(r, out)
    status = "error" if span.status_code == 2 else "ok"
    if status == "error":
        out["error"] = _error(span, r)
    for name, value in span.attributes.items():  # the rest, under their own names
        if name not in r.used and value is not None and not name.startswith(_INDEXED):
            if name in _KNOWN_KEYS and not (name in _FREE_TEXT_KEYS and isinstance(value, str) and name not in out):
                name = f"otel.{name}"  # a Peekr attribute name with a value Peekr does not expect there
            out[name] = value
    service = span.resource.get("service.name")
    if isinstance(service, str) and "service.name" not in out:
        out["service.name"] = service
    if "cost_usd" not in out and "model" in out:
        cost_usd = compute_cost(out)
        if cost_usd is not None:
            out["cost_usd"] = cost_usd
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id or None,
        "name": span.name or "otel.span",
        "start_time": iso_utc(span.start_ns),
        "end_time": iso_utc(span.end_ns),
        "duration_ms": max(0, span.end_ns - span.start_ns) / 1e6,
        "status": status,
        "retention_class": "default",
        "attributes": out,
    }


def _error(span: OtelSpan, r: Reader) -> dict[str, Any]:
    exception = next((e.attributes for e in span.events if e.name == "exception"), {})
    kind = r.get("error.type") or exception.get("exception.type") or "error"
    message = span.status_message or exception.get("exception.message") or ""
    return {"type": str(kind), "message": str(message)}


def _retrieval(r: Reader, out: dict[str, Any]) -> None:
    """OpenInference ``retrieval.documents.N.document.*`` / ``gen_ai.retrieval.documents`` -> ``retrieval``."""
    documents: list[dict[str, Any]] = []
    for doc in r.indexed("retrieval.documents."):
        entry: dict[str, Any] = {"id": _str_or_none(doc.get("document.id")), "score": _score(doc.get("document.score"))}
        if doc.get("document.content") is not None:
            entry["text"] = str(doc["document.content"])
        metadata = loads_if_json(doc.get("document.metadata"))
        if isinstance(metadata, Mapping) and metadata:
            entry["metadata"] = dict(metadata)
        documents.append(entry)
    genai = loads_if_json(r.get("gen_ai.retrieval.documents"))
    if not documents and isinstance(genai, list):
        for doc in genai:
            if isinstance(doc, Mapping):
                entry = {"id": _str_or_none(doc.get("id")), "score": _score(doc.get("score"))}
                text = doc.get("content", doc.get("text"))
                if text is not None:
                    entry["text"] = str(text)
                documents.append(entry)
    if not documents and out.get("kind") != "retrieval":
        return
    query = r.get("gen_ai.retrieval.query.text")
    if query is None and isinstance(out.get("input"), str):
        query = out["input"]
    retrieval: dict[str, Any] = {"top_k": None, "score_type": None, "documents": documents}
    if query is not None:
        retrieval["query"] = query
    out["retrieval"] = retrieval
    out["kind"] = "retrieval"


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _score(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _evaluation_events(span: OtelSpan) -> list[dict[str, Any]]:
    """``gen_ai.evaluation.result`` span events -> evaluation results of the span (one per event)."""
    results = []
    for event in span.events:
        if event.name != _EVAL_EVENT:
            continue
        a = event.attributes
        name = str(a.get("gen_ai.evaluation.name") or "evaluation")
        summary = {k: a[f"gen_ai.evaluation.{n}"] for k, n in (("label", "score.label"), ("reason", "explanation"))
                   if f"gen_ai.evaluation.{n}" in a}  # fmt: skip
        failed = a.get("error.type") is not None
        results.append(
            {
                "record": "eval",
                "span_id": span.span_id,
                "trace_id": span.trace_id,
                "evaluator": name,
                "status": "failed" if failed else "ok",
                "scores": {} if failed else {name: a.get("gen_ai.evaluation.score.value")},
                "attributes": {f"{name}_eval": summary} if summary else {},
                "error": str(a["error.type"]) if failed else None,
                "created_at": iso_utc(event.time_ns or span.end_ns),
            }
        )
    return results


def rejection_summary(errors: list[str]) -> str:
    """The ``error_message`` of a partial success: the first few reasons."""
    listed = "; ".join(errors[:_MAX_ERRORS_LISTED])
    more = len(errors) - _MAX_ERRORS_LISTED
    return listed + (f"; and {more} more" if more > 0 else "")
