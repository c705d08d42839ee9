"""Gemini (google-genai): ``/{v1,v1beta,v1alpha}/models/{model}:generateContent``, ``:streamGenerateContent``
(``alt=sse``), ``:embedContent`` and ``:batchEmbedContents``, with camelCase usage and Google's error shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._behaviour import Behaviour, Prompt, Reply, Usage, default_reply, pieces, text_of, usage_for, words
from ._openai_embeddings import embedding_vector
from ._settings import Call
from ._wire import FakeRequest, FakeResponse, fake_id, json_response, paced, sse_data

__all__ = ["batch_embed_contents", "embed_content", "gemini_error", "generate_content", "stream_generate_content"]

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def gemini_error(status: int, message: str | None = None) -> FakeResponse:
    """An error in Google's JSON shape; 429 carries ``Retry-After: 1``."""
    body = _error_body(status, message or f"fake error {status}")
    return json_response(status, body, [("retry-after", "1")] if status == 429 else [])


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def gemini_prompt(body: dict[str, Any]) -> Prompt:
    """System instruction plus all contents; the last user content (or function response) is echoed."""
    contents = body.get("contents") or []
    texts = [*text_of(body.get("systemInstruction") or ""), *(t for c in contents for t in text_of(c))]
    last = contents[-1] if contents else {}
    after_tool = any("functionResponse" in p for p in last.get("parts") or ())
    tools = [
        (d["name"], d.get("parameters") or d.get("parametersJsonSchema") or {})
        for t in body.get("tools") or ()
        for d in t.get("functionDeclarations") or ()
    ]
    return Prompt(texts, " ".join(text_of(last)), tools, after_tool)


def generate_content(call: Call) -> FakeResponse:
    """Answer ``:generateContent``."""
    request, model, behaviour = call.request, call.model, call.behaviour
    body: dict[str, Any] = request.json or {}
    prompt = gemini_prompt(body)
    reply = default_reply(prompt, behaviour)
    parts = [{"text": reply.text}] if reply.text else []
    parts += _call_parts(reply)
    counts = usage_for(prompt, reply, behaviour)
    usage = _usage(counts, final=True) if counts else None
    return json_response(200, _chunk(request, model, parts, "STOP", usage))


def stream_generate_content(call: Call) -> FakeResponse:
    """Answer ``:streamGenerateContent?alt=sse``: one chunk per word, function calls in one chunk, usage last."""
    request, model, behaviour = call.request, call.model, call.behaviour
    prompt = gemini_prompt(request.json or {})
    reply = default_reply(prompt, behaviour)
    events = paced(_stream(request, model, prompt, reply, behaviour), behaviour.chunk_pause)
    return FakeResponse(200, [("content-type", "text/event-stream")], events, True)


def embed_content(call: Call) -> FakeResponse:
    """Answer ``:embedContent`` with a deterministic vector."""
    request = call.request
    body: dict[str, Any] = request.json or {}
    text = " ".join(text_of(body.get("content") or {}))
    return json_response(200, {"embedding": {"values": _vector(text, body)}})


def batch_embed_contents(call: Call) -> FakeResponse:
    """Answer ``:batchEmbedContents`` (what ``client.models.embed_content`` calls on the Gemini API)."""
    request = call.request
    requests = (request.json or {}).get("requests") or []
    texts = [" ".join(text_of(r.get("content") or {})) for r in requests]
    vectors = [{"values": _vector(t, r)} for t, r in zip(texts, requests, strict=True)]
    return json_response(200, {"embeddings": vectors, "usageMetadata": {"promptTokenCount": sum(map(words, texts))}})


def _vector(text: str, body: dict[str, Any]) -> list[float]:
    dimensions = body.get("outputDimensionality")
    return embedding_vector(text, int(dimensions)) if dimensions else embedding_vector(text)


def _usage(usage: Usage, *, final: bool) -> dict[str, Any]:
    """camelCase usage; early stream chunks (`final=False`) carry the prompt counts only."""
    result = {"promptTokenCount": usage.input, "totalTokenCount": usage.total if final else usage.input}
    if final:
        result["candidatesTokenCount"] = usage.output
    if usage.cache_read:
        result["cachedContentTokenCount"] = usage.cache_read
    return result


def _call_parts(reply: Reply) -> list[dict[str, Any]]:
    return [{"functionCall": {"name": c.name, "args": c.arguments}} for c in reply.tool_calls]


def _chunk(
    request: FakeRequest, model: str, parts: list[dict[str, Any]], finish: str | None, usage: dict[str, Any] | None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": fake_id(request)}
    if usage:
        chunk["usageMetadata"] = usage
    return chunk


def _stream(request: FakeRequest, model: str, prompt: Prompt, reply: Reply, behaviour: Behaviour) -> Iterator[bytes]:
    """Early chunks carry prompt-only usage; the last one has the final counts and finishReason."""
    groups = [[{"text": p}] for p in pieces(reply.text)]
    if reply.tool_calls:
        groups.append(_call_parts(reply))
    counts = usage_for(prompt, reply, behaviour)
    early = _usage(counts, final=False) if counts else None
    final = _usage(counts, final=True) if counts else None
    for n, parts in enumerate(groups):
        if behaviour.midstream_error and n == 2:
            break
        last = n == len(groups) - 1 and not behaviour.midstream_error
        yield sse_data(_chunk(request, model, parts, "STOP" if last else None, final if last else early))
    if behaviour.midstream_error:
        yield sse_data(_error_body(500, "fake midstream error"))
