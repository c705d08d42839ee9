"""OpenAI integration: chat completions, the Responses API and embeddings, sync and async.

Patched (class level, on the class that defines each method; PROVIDERS.md §1):

- ``openai.resources.chat.completions.completions``: ``Completions.create`` / ``.parse`` and the
  ``AsyncCompletions`` versions -> ``openai.chat.completions`` (``.stream()`` calls ``create``);
- ``openai.resources.responses.responses``: ``Responses.create`` / ``.parse`` and the
  ``AsyncResponses`` versions -> ``openai.responses`` (``.stream()`` calls ``create``);
- ``openai.resources.embeddings``: ``Embeddings.create`` / ``AsyncEmbeddings.create`` ->
  ``openai.embeddings``.

Each module is patched as soon as it is imported (at once when it already is). ``import openai``
does not import them: the SDK loads them on first use of ``client.chat`` etc., so ``instrument()``
imports nothing. Streams keep the SDK's own ``Stream`` object (see ``openai._common``).

Raw responses: a ``with_raw_response`` call returns a ``LegacyAPIResponse``; the span is filled
from its ``parse()`` (cached by the SDK, so the caller's own ``parse()`` returns the same object,
for streams the same traced ``Stream``). A ``with_streaming_response`` call returns an
``APIResponse`` whose body the caller reads: the span ends when the headers arrive, without output
or tokens, and the body is never touched.

Switch: ``peekr.integrations.openai.inject_stream_usage = False`` stops asking for
``stream_options.include_usage`` on streamed chat completions (see ``openai._chat``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from ..._tracer import ActiveSpan
from .._base import Integration, patch
from .._wrap import wrap_async, wrap_sync
from . import _chat as chat
from . import _responses as responses
from ._chat_loop import ChatStream, sdk_aloop, sdk_loop
from ._common import (
    SDK,
    load_sdk_types,
    provider_of,
    request_attribute,
    set_captured,
    trace_async_stream,
    trace_sync_stream,
)

__all__ = ["OpenAIIntegration", "inject_stream_usage"]

#: Ask for ``stream_options.include_usage`` on streamed chat completions that did not mention it,
#: and hide the extra usage-only chunk from the caller. Set to False for OpenAI-compatible servers
#: that reject ``stream_options``; streamed chat spans then have tokens only when the caller asked.
inject_stream_usage = True

EMBEDDINGS = "openai.embeddings"
_EMBEDDING_KEYS = frozenset(("dimensions", "encoding_format"))


def _inject_enabled() -> bool:
    return inject_stream_usage


class OpenAIIntegration(Integration):
    """Records every ``openai`` chat completion, Responses API call and embeddings call."""

    identifier = "openai"
    distribution = "openai"
    package = "openai"
    min_version = "1.66.0"  # the Responses API; tested with 3.57
    extra = "openai"

    def hooks(self) -> Mapping[str, Callable[[ModuleType], None]]:
        """Module name -> patch function."""
        return {
            "openai.resources.chat.completions.completions": _patch_chat,
            "openai.resources.responses.responses": _patch_responses,
            "openai.resources.embeddings": _patch_embeddings,
        }


# -- result dispatch -------------------------------------------------------------------------------

Record = Callable[[ActiveSpan, Any], None]
TraceStream = Callable[[ActiveSpan, Any], Any]


def _on_result(record: Record, sync_stream: TraceStream, async_stream: TraceStream) -> Any:
    def on_result(span: ActiveSpan, result: Any, kwargs: dict[str, Any]) -> Any:
        if isinstance(result, SDK.LegacyAPIResponse):  # with_raw_response
            try:
                parsed = result.parse()  # cached: the caller's parse() returns this same object
            except Exception:  # the provider's body, not a peekr failure: keep what we have
                span.end()
                return result
            _on_parsed(span, parsed, record, sync_stream, async_stream)
            return result
        if isinstance(result, SDK.BaseAPIResponse):  # with_streaming_response: never read its body
            span.end()
            return result
        _on_parsed(span, result, record, sync_stream, async_stream)
        return result

    return on_result


def _on_parsed(
    span: ActiveSpan, result: Any, record: Record, sync_stream: TraceStream, async_stream: TraceStream
) -> None:
    if isinstance(result, SDK.Stream):
        sync_stream(span, result)
    elif isinstance(result, SDK.AsyncStream):
        async_stream(span, result)
    else:
        record(span, result)
        span.end()


def _chat_stream(span: ActiveSpan, stream: Any) -> Any:
    state = ChatStream(chat.hidden_usage_chunks(stream))
    return trace_sync_stream(span, stream, state.make_on_chunk, state.finalize, chat.NAME, state.iterate)


def _chat_astream(span: ActiveSpan, stream: Any) -> Any:
    state = ChatStream(chat.hidden_usage_chunks(stream))
    return trace_async_stream(span, stream, state.make_on_chunk, state.finalize, chat.NAME, state.aiterate)


def _responses_stream(span: ActiveSpan, stream: Any) -> Any:
    return trace_sync_stream(
        span, stream, responses.make_responses_on_chunk, responses.finalize_responses_stream, responses.NAME, sdk_loop
    )


def _responses_astream(span: ActiveSpan, stream: Any) -> Any:
    return trace_async_stream(
        span, stream, responses.make_responses_on_chunk, responses.finalize_responses_stream, responses.NAME, sdk_aloop
    )


# -- embeddings ------------------------------------------------------------------------------------


def _describe_embeddings(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    model = kwargs.get("model")
    attributes: dict[str, Any] = {"provider": provider_of(instance)}
    if isinstance(model, str):
        attributes["model"] = model
    set_captured(attributes, "input", kwargs.get("input"))
    request = request_attribute(kwargs, _EMBEDDING_KEYS)
    if request:
        set_captured(attributes, "request", request)
    return EMBEDDINGS, attributes


def _dimensions(vector: Any) -> int | None:
    if isinstance(vector, list):
        return len(vector)
    if isinstance(vector, str):  # encoding_format="base64" asked by the caller: float32 values
        try:
            return len(base64.b64decode(vector)) // 4
        except (binascii.Error, ValueError):
            return None
    return None


def _record_embeddings(span: ActiveSpan, result: Any) -> None:
    attributes = span.attributes
    model = getattr(result, "model", None)
    if model:
        attributes["model"] = model
    usage = getattr(result, "usage", None)
    if usage is not None:
        prompt = getattr(usage, "prompt_tokens", None)
        total = getattr(usage, "total_tokens", None)
        if prompt is not None:
            attributes["tokens_input"] = prompt
        if total is not None or prompt is not None:
            attributes["tokens_total"] = total if total is not None else prompt
    data = getattr(result, "data", None) or []
    summary: dict[str, Any] = {"count": len(data)}
    if data:
        summary["dimensions"] = _dimensions(data[0].embedding)
    set_captured(attributes, "output", summary)


# -- patching --------------------------------------------------------------------------------------


def _patch_chat(module: ModuleType) -> None:
    load_sdk_types()
    on_result = _on_result(chat.record_chat_completion, _chat_stream, _chat_astream)
    sync = wrap_sync(chat.NAME, chat.describe_chat, on_result)
    async_ = wrap_async(chat.NAME, chat.describe_chat, on_result)
    patch(module.Completions, "create", lambda f: sync(chat.with_stream_usage(f, False, _inject_enabled)))
    patch(module.Completions, "parse", sync)
    patch(module.AsyncCompletions, "create", lambda f: async_(chat.with_stream_usage(f, True, _inject_enabled)))
    patch(module.AsyncCompletions, "parse", async_)


def _patch_responses(module: ModuleType) -> None:
    load_sdk_types()
    on_result = _on_result(responses.record_response, _responses_stream, _responses_astream)
    sync = wrap_sync(responses.NAME, responses.describe_responses, on_result)
    async_ = wrap_async(responses.NAME, responses.describe_responses, on_result)
    for name in ("create", "parse"):
        patch(module.Responses, name, sync)
        patch(module.AsyncResponses, name, async_)


def _patch_embeddings(module: ModuleType) -> None:
    load_sdk_types()
    on_result = _on_result(_record_embeddings, _unexpected_stream, _unexpected_stream)
    patch(module.Embeddings, "create", wrap_sync(EMBEDDINGS, _describe_embeddings, on_result))
    patch(module.AsyncEmbeddings, "create", wrap_async(EMBEDDINGS, _describe_embeddings, on_result))


def _unexpected_stream(span: ActiveSpan, stream: Any) -> Any:
    span.end()  # embeddings never stream; if a future SDK does, end the span rather than guess
    return stream
