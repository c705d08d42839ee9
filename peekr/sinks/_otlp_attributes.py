"""A peekr span -> OTel span name, kind and attributes (OpenTelemetry GenAI semantic conventions).

The table of every attribute is in docs/otlp.md. Rules:

* Provider calls become ``{gen_ai.operation.name} {gen_ai.request.model}`` CLIENT spans; Peekr's own
  span name stays in ``peekr.span.name`` and its provider key in ``peekr.provider`` (when renamed),
  so a reader can rebuild the Peekr span.
* Known fields map to ``gen_ai.*`` names (plus the few OpenInference names Phoenix needs to
  classify a span); everything else stays under ``peekr.<key>``; attributes the user already named
  ``gen_ai.*`` pass through as they are (``execute_tool`` / ``invoke_agent`` / ``retrieval`` spans).
* Content (``input``, ``output``, ``tool_calls``, evaluation details) is exported only when
  ``content`` is true and never for a ``retention_class="pii"`` span: such a span exports only
  the metadata keys in ``_PII_SAFE`` (no user keys, no error message).
* OTel span attributes cannot hold maps, so structured values are JSON strings (the conventions
  allow this for ``gen_ai.input.messages`` & co "if structured format is not supported").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .._codec import dumps
from .._errors import handle_internal_errors
from .._span import Span
from ._otlp_messages import input_messages, output_messages

__all__ = ["OtelSpanShape", "describe", "json_text", "to_otel_attributes"]

#: Peekr span name -> (gen_ai.operation.name, openai.api.type or None).
_OPERATIONS: Mapping[str, tuple[str, str | None]] = {
    "openai.chat.completions": ("chat", "chat_completions"),
    "openai.responses": ("chat", "responses"),
    "openai.embeddings": ("embeddings", None),
    "openai.completions": ("text_completion", None),
    "anthropic.messages": ("chat", None),
    "bedrock.converse": ("chat", None),
    "bedrock.invoke_model": ("chat", None),
    "gemini.generate_content": ("generate_content", None),
    "gemini.embed_content": ("embeddings", None),
}
#: Peekr's ``provider`` -> the conventions' well-known ``gen_ai.provider.name``.
_PROVIDERS = {
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "azure": "azure.ai.openai",
}
#: Peekr's ``provider`` -> OpenInference ``llm.provider`` (Phoenix).
_OI_PROVIDERS = {"bedrock": "aws", "gemini": "google", "vertex_ai": "google", "azure": "azure"}
#: What the user's span target is called per operation (span name ``{operation} {target}``).
_TARGETS = {
    "execute_tool": "gen_ai.tool.name",
    "invoke_agent": "gen_ai.agent.name",
    "create_agent": "gen_ai.agent.name",
    "invoke_workflow": "gen_ai.workflow.name",
    "retrieval": "gen_ai.data_source.id",
}
_OI_KINDS = {
    "chat": "LLM",
    "generate_content": "LLM",
    "text_completion": "LLM",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "retrieval": "RETRIEVER",
}
#: A framework / vector-store span's ``kind`` -> ``openinference.span.kind`` (``indexing`` has none).
_OI_FRAMEWORK_KINDS = {
    "chain": "CHAIN",
    "graph_node": "CHAIN",
    "tool": "TOOL",
    "agent": "AGENT",
    "retrieval": "RETRIEVER",
    "embedding": "EMBEDDING",
    "llm": "LLM",
}
#: ``retrieval.documents[i]`` keys that are content (dropped when content is not exported).
_DOCUMENT_CONTENT = ("text", "metadata")
#: ``attributes.request`` keys -> conventions attribute (values copied as they are).
_REQUEST = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}
_TOKENS = {
    "tokens_input": ("gen_ai.usage.input_tokens", "llm.token_count.prompt"),
    "tokens_output": ("gen_ai.usage.output_tokens", "llm.token_count.completion"),
    "tokens_total": ("peekr.tokens_total", "llm.token_count.total"),
    "tokens_cache_read": ("gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read"),
    "tokens_cache_write": ("gen_ai.usage.cache_creation.input_tokens", "llm.token_count.prompt_details.cache_write"),
    "tokens_reasoning": ("gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning"),
}
#: Peekr keys exported for a ``pii`` span (metadata only; everything else is left out).
_PII_SAFE = frozenset(
    (
        "model",
        "provider",
        *_TOKENS,
        "finish_reason",
        "response_id",
        "session_id",
        "user_id",
        "ttft_ms",
        "stream",
        "request",
        "error",
        "cost_usd",
        "eval_scores",
        "experiment_variant",
        "feature",
        "endpoint",
    )
)
#: Keys that hold prompt/response content (never exported for pii spans or with content off).
CONTENT_KEYS = frozenset(("input", "output", "tool_calls", "hallucination_details"))
#: ``gen_ai.*`` attributes that hold content (a user may set them on their own spans).
_GENAI_CONTENT = frozenset(
    (
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.retrieval.documents",
        "gen_ai.retrieval.query.text",
        "gen_ai.prompt",
        "gen_ai.completion",
    )
)


class OtelSpanShape(NamedTuple):
    """What an OTel span needs besides ids and times."""

    name: str
    client: bool
    attributes: dict[str, Any]


def json_text(value: Any) -> str:
    """Compact JSON text (never raises for odd objects)."""
    return dumps(value).decode()


def _value(value: Any) -> Any:
    """An OTel attribute value: scalars and homogeneous scalar lists as they are, the rest as JSON."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and value:
        kinds = {type(v) for v in value}
        if len(kinds) == 1 and kinds <= {str, bool, int, float}:
            return list(value)
    return json_text(value)


def _operation(span: Span) -> tuple[str | None, str | None]:
    user_op = span.attributes.get("gen_ai.operation.name")
    if isinstance(user_op, str) and user_op:
        return user_op, None
    operation, api = _OPERATIONS.get(span.name, (None, None))
    if span.name == "bedrock.invoke_model" and "embed" in str(span.attributes.get("model", "")).lower():
        operation = "embeddings"
    return operation, api


def _request(out: dict[str, Any], request: Mapping[str, Any], provider: str | None) -> None:
    for key, value in request.items():
        name = _REQUEST.get(key)
        if name is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = value
    stop = request.get("stop", request.get("stop_sequences"))
    if isinstance(stop, str):
        stop = [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        out["gen_ai.request.stop_sequences"] = stop
    count = request.get("n", request.get("candidate_count"))
    if isinstance(count, int) and not isinstance(count, bool) and count != 1:
        out["gen_ai.request.choice.count"] = count
    if isinstance(request.get("stream"), bool):
        out["gen_ai.request.stream"] = request["stream"]
    output_format = str(request.get("response_format") or request.get("response_mime_type") or "")
    if output_format:
        out["gen_ai.output.type"] = "json" if "json" in output_format else "text"
    encoding = request.get("encoding_format")
    if isinstance(encoding, str):
        out["gen_ai.request.encoding_formats"] = [encoding]
    if provider == "openai" and isinstance(request.get("service_tier"), str):
        out["openai.request.service_tier"] = request["service_tier"]
    out["llm.invocation_parameters"] = json_text(request)


def _content(out: dict[str, Any], attributes: Mapping[str, Any], operation: str | None, failed: bool) -> None:
    """Raw content under OpenInference's names, the conventions' message shapes for LLM calls."""
    for key, (value_key, mime_key) in (
        ("input", ("input.value", "input.mime_type")),
        ("output", ("output.value", "output.mime_type")),
    ):
        value = attributes.get(key)
        if value is not None:
            out[value_key] = value if isinstance(value, str) else json_text(value)
            out[mime_key] = "text/plain" if isinstance(value, str) else "application/json"
    if attributes.get("tool_calls") is not None:
        out["peekr.tool_calls"] = json_text(attributes["tool_calls"])
    if attributes.get("hallucination_details") is not None:
        out["peekr.hallucination_details"] = json_text(attributes["hallucination_details"])
    if operation not in ("chat", "generate_content", "text_completion"):
        return
    # A shape the converter does not expect must cost the messages, not the span.
    with handle_internal_errors("otlp.messages"):
        _messages(out, attributes, failed)


def _messages(out: dict[str, Any], attributes: Mapping[str, Any], failed: bool) -> None:
    messages, system = input_messages(attributes.get("input"))
    if messages is not None:
        out["gen_ai.input.messages"] = json_text(messages)
    if system is not None:
        out["gen_ai.system_instructions"] = json_text(system)
    replies = output_messages(
        attributes.get("output"), attributes.get("tool_calls"), attributes.get("finish_reason"), failed
    )
    if replies is not None:
        out["gen_ai.output.messages"] = json_text(replies)


def _retrieval(out: dict[str, Any], retrieval: Mapping[str, Any], content: bool) -> None:
    """The shared retrieval shape -> OpenInference ``retrieval.documents.{i}.document.*`` + ``peekr.retrieval``.

    ``peekr.retrieval`` keeps the whole value (JSON) so a reader can rebuild the span; without
    content it loses the query and the documents' text and metadata, like the flat attributes.
    """
    documents = retrieval.get("documents")
    kept: list[Any] = []
    for index, doc in enumerate(documents if isinstance(documents, list) else ()):
        if not isinstance(doc, Mapping):
            continue
        prefix = f"retrieval.documents.{index}.document."
        if doc.get("id") is not None:
            out[prefix + "id"] = str(doc["id"])
        score = doc.get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            out[prefix + "score"] = float(score)
        if content and isinstance(doc.get("text"), str):
            out[prefix + "content"] = doc["text"]
        if content and isinstance(doc.get("metadata"), Mapping):
            out[prefix + "metadata"] = json_text(doc["metadata"])
        kept.append(doc if content else {k: v for k, v in doc.items() if k not in _DOCUMENT_CONTENT})
    value = {k: v for k, v in retrieval.items() if k != "documents" and (content or k != "query")}
    value["documents"] = kept
    out["peekr.retrieval"] = json_text(value)


def describe(span: Span, *, content: bool = True) -> OtelSpanShape:
    """The OTel name, kind (CLIENT for provider calls) and attributes of a peekr span."""
    attributes: Mapping[str, Any] = span.attributes
    pii = span.retention_class == "pii"
    content = content and not pii
    operation, api = _operation(span)
    raw_provider = attributes.get("provider")
    provider = str(raw_provider) if raw_provider is not None else None
    kind = attributes.get("kind")
    embedding = operation == "embeddings" or kind == "embedding"
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None or key in CONTENT_KEYS or (pii and key not in _PII_SAFE and not key.startswith("gen_ai.")):
            continue
        if key.startswith("gen_ai."):
            if content or key not in _GENAI_CONTENT:
                out[key] = _value(value)
        elif key == "model":
            out["gen_ai.request.model"] = out["gen_ai.response.model"] = str(value)
            out["embedding.model_name" if embedding else "llm.model_name"] = str(value)
        elif key == "provider":
            out["gen_ai.provider.name"] = _PROVIDERS.get(str(value), str(value))
            out["llm.provider"] = _OI_PROVIDERS.get(str(value), str(value))
            if out["gen_ai.provider.name"] != value:
                out["peekr.provider"] = str(value)
        elif key in _TOKENS:
            genai, openinference = _TOKENS[key]
            out[genai] = out[openinference] = value
        elif key == "finish_reason":
            out["gen_ai.response.finish_reasons"] = [str(value)]
        elif key == "response_id":
            out["gen_ai.response.id"] = str(value)
        elif key == "session_id":
            out["gen_ai.conversation.id"] = out["session.id"] = str(value)
        elif key == "user_id":
            out["user.id"] = str(value)
        elif key == "ttft_ms" and isinstance(value, (int, float)):
            out["gen_ai.response.time_to_first_chunk"] = value / 1000
            out["peekr.ttft_ms"] = value
        elif key == "stream":
            out["gen_ai.request.stream"] = bool(value)
        elif key == "request" and isinstance(value, Mapping):
            _request(out, value, provider)
            out["peekr.request"] = json_text(value)
        elif key == "retrieval" and isinstance(value, Mapping):
            _retrieval(out, value, content)
        elif key == "error":
            error_type = value.get("type") if isinstance(value, Mapping) else None
            out["error.type"] = str(error_type) if error_type else "_OTHER"
            if not pii:
                out["peekr.error"] = json_text(value)
        else:
            out[f"peekr.{key}"] = _value(value)
    if span.status == "error" and "error.type" not in out:
        out["error.type"] = "_OTHER"
    if operation == "embeddings" and isinstance(attributes.get("output"), Mapping):
        dimensions = attributes["output"].get("dimensions")
        if isinstance(dimensions, int):
            out["gen_ai.embeddings.dimension.count"] = dimensions
    if content:
        _content(out, attributes, operation, span.status == "error")
        query = attributes["retrieval"].get("query") if isinstance(attributes.get("retrieval"), Mapping) else None
        if query is not None and "input.value" not in out:  # OpenInference: a retriever's input is its query
            out["input.value"] = query if isinstance(query, str) else json_text(query)
            out["input.mime_type"] = "text/plain" if isinstance(query, str) else "application/json"
    if isinstance(kind, str) and kind in _OI_FRAMEWORK_KINDS:
        out["openinference.span.kind"] = _OI_FRAMEWORK_KINDS[kind]
    name = span.name
    if operation is not None:
        out["gen_ai.operation.name"] = operation
        if operation in _OI_KINDS:
            out["openinference.span.kind"] = _OI_KINDS[operation]
        if api is not None:
            out["openai.api.type"] = api
        target = attributes.get(_TARGETS.get(operation, "model"))
        name = f"{operation} {target}" if target else operation
        if name != span.name:
            out["peekr.span.name"] = span.name
    if span.tenant_id is not None:
        out["peekr.tenant_id"] = span.tenant_id
    out["peekr.retention_class"] = span.retention_class
    # OTel keeps start and end times only; Peekr's duration has sub-microsecond precision.
    out["peekr.duration_ms"] = span.duration_ms
    return OtelSpanShape(name, provider is not None, out)


def to_otel_attributes(span: Span, *, content: bool = True) -> dict[str, Any]:
    """Map a peekr span's fields and attributes onto OTel attribute names (see ``describe``)."""
    return describe(span, content=content).attributes
