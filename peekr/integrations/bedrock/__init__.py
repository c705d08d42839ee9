"""AWS Bedrock Runtime through boto3 and aioboto3: ``converse``, ``converse_stream``, ``invoke_model``,
``invoke_model_with_response_stream``.

One class-level hook per SDK (PROVIDERS.md §4.1): every botocore client method is generated as
``self._make_api_call(operation_name, api_params)``, so patching
``botocore.client.BaseClient._make_api_call`` and aiobotocore's own override
``aiobotocore.client.AioBaseClient._make_api_call`` covers every client, including those created
before ``instrument()``. That method serves *every* AWS service, so the wrapper's first statement
is a frozenset lookup of the operation name; anything but the four Bedrock operations goes
straight to the original (measured: docs/providers/bedrock.md). For the four, the flow is
``_wrap``'s: the user's call runs outside peekr's ``try``; its result or exception passes through.

Spans: ``bedrock.converse`` (Converse, ConverseStream) and ``bedrock.invoke_model`` (InvokeModel,
InvokeModelWithResponseStream), ``provider="bedrock"``, ``model`` = ``modelId``. Streams and the
one-shot ``invoke_model`` body end their span on the finish paths listed in ``bedrock._streams``.

Nothing here imports boto at ``import peekr`` time: ``hooks()`` patches ``botocore.client`` /
``aiobotocore.client`` when (or as soon as) they are imported.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar

from ..._tracer import ActiveSpan
from .._base import Integration, patch
from .._wrap import wrap_async, wrap_sync
from ._invoke import InvokeStreamState, header_usage
from ._parse import (
    ConverseStreamState,
    apply_usage,
    converse_input,
    converse_request,
    invoke_request,
    record_converse,
    set_captured,
)
from ._streams import BodyTee, make_aiter, make_close, make_iter, watch_event_stream

__all__ = ["BedrockIntegration"]

_SERVICE = "bedrock-runtime"
#: operation name -> (span name, streamed?)
_OPERATIONS: dict[str, tuple[str, bool]] = {
    "Converse": ("bedrock.converse", False),
    "ConverseStream": ("bedrock.converse", True),
    "InvokeModel": ("bedrock.invoke_model", False),
    "InvokeModelWithResponseStream": ("bedrock.invoke_model", True),
}
_OPERATION_NAMES = frozenset(_OPERATIONS)

#: body type -> the traced subclass replacing it (filled by the hooks once each SDK is imported)
_BODY_TYPES: dict[type, Callable[[Any, BodyTee], Any]] = {}
#: EventStream classes whose instances can be watched (filled by the hooks)
_STREAM_TYPES: list[type] = []


class BedrockIntegration(Integration):
    """boto3 (extra ``bedrock``) and aioboto3 (extra ``bedrock-async``) ``bedrock-runtime`` clients."""

    identifier: ClassVar[str] = "bedrock"
    distribution: ClassVar[str] = "botocore"
    package: ClassVar[str] = "botocore"
    # bedrock-runtime (InvokeModel) is in botocore since 1.31.57; Converse since 1.34.116.
    min_version: ClassVar[str] = "1.34.0"
    extra: ClassVar[str] = "bedrock"

    def hooks(self) -> Mapping[str, Callable[[ModuleType], None]]:
        """Patch botocore and aiobotocore when they are imported."""
        return {"botocore.client": _patch_botocore, "aiobotocore.client": _patch_aiobotocore}


def _patch_botocore(module: ModuleType) -> None:
    from botocore.eventstream import EventStream
    from botocore.response import StreamingBody

    from ._body import TracedStreamingBody

    _BODY_TYPES[StreamingBody] = TracedStreamingBody
    if EventStream not in _STREAM_TYPES:
        _STREAM_TYPES.append(EventStream)
    patch(module.BaseClient, "_make_api_call", _sync_factory)
    patch(EventStream, "__iter__", make_iter)
    patch(EventStream, "close", make_close)


def _patch_aiobotocore(module: ModuleType) -> None:
    from aiobotocore.eventstream import AioEventStream
    from aiobotocore.response import StreamingBody

    from ._aio_body import TracedAioStreamingBody

    _BODY_TYPES[StreamingBody] = TracedAioStreamingBody
    if AioEventStream not in _STREAM_TYPES:
        _STREAM_TYPES.append(AioEventStream)
    patch(module.AioBaseClient, "_make_api_call", _async_factory)
    patch(AioEventStream, "__aiter__", make_aiter)
    # AioEventStream inherits EventStream.close (patched by the botocore hook: aiobotocore
    # imports botocore.client first).


def _sync_factory(original: Callable[..., Any]) -> Callable[..., Any]:
    traced = wrap_sync("bedrock", _describe, _on_result)(original)

    @functools.wraps(original)
    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name not in _OPERATION_NAMES:  # every other AWS call: straight through
            return original(self, operation_name, api_params)
        return traced(self, operation_name, api_params)

    return _make_api_call


def _async_factory(original: Callable[..., Any]) -> Callable[..., Any]:
    traced = wrap_async("bedrock", _describe, _on_result)(original)

    @functools.wraps(original)
    async def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name not in _OPERATION_NAMES:  # every other AWS call: straight through
            return await original(self, operation_name, api_params)
        return await traced(self, operation_name, api_params)

    return _make_api_call


def _describe(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    operation_name, params = args
    if client.meta.service_model.service_name != _SERVICE or not isinstance(params, Mapping):
        return None
    name, stream = _OPERATIONS[operation_name]
    attrs: dict[str, Any] = {"provider": "bedrock", "model": params.get("modelId")}
    if stream:
        attrs["stream"] = True
    if name == "bedrock.converse":
        set_captured(attrs, "input", converse_input(params))
        request = converse_request(params, stream)
    else:
        body = _json_body(params.get("body"))
        if body is not None:
            set_captured(attrs, "input", body)
        request = invoke_request(body, stream)
    if request:
        set_captured(attrs, "request", request)
    return name, attrs


def _json_body(body: Any) -> Any:
    """The request body as JSON, for bytes and str bodies only: a file object is never read."""
    if isinstance(body, (bytes, bytearray, str)):
        try:
            return json.loads(body)
        except ValueError:
            return None
    return None


def _on_result(span: ActiveSpan, result: Any, kwargs: dict[str, Any]) -> Any:
    attrs = span.attributes
    if not isinstance(result, dict):
        span.end()
        return result
    converse = span.name == "bedrock.converse"
    if not attrs.get("stream"):
        if converse:
            record_converse(attrs, result)
            span.end()
            return result
        headers = header_usage(result)
        body = result.get("body")
        traced = _BODY_TYPES.get(type(body))
        if traced is None:  # an HTTP backend peekr does not know: headers only, never read it
            apply_usage(attrs, headers)
            span.end()
            return result
        tee = BodyTee(span, headers)
        result["body"] = wrapped = traced(body, tee)
        tee.recorder.attach(wrapped)
        return result
    stream = result.get("stream" if converse else "body")
    if not isinstance(stream, tuple(_STREAM_TYPES)):
        span.end()
        return result
    state: ConverseStreamState | InvokeStreamState = ConverseStreamState(span) if converse else InvokeStreamState(span)
    watch_event_stream(stream, span, state.on_event, state.record)
    return result
