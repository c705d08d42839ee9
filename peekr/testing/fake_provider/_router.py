"""Route a `FakeRequest` to the provider handler that speaks its wire format; the one entry point
shared by the HTTP server and the in-process transports."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from . import _anthropic, _bedrock, _gemini, _openai_chat, _openai_embeddings, _openai_responses
from ._behaviour import Behaviour
from ._settings import Call, Settings
from ._wire import FakeRequest, FakeResponse, json_response

__all__ = ["handle"]

logger = logging.getLogger("peekr.testing.fake_provider")

Handler = Callable[[Call], FakeResponse]
ErrorResponse = Callable[[int], FakeResponse]

_OPENAI, _ANTHROPIC = _openai_chat.openai_error, _anthropic.anthropic_error
_GEMINI, _BEDROCK = _gemini.gemini_error, _bedrock.bedrock_error

# (pattern on the URL-decoded path, handler, error shape); the model comes from the named group or the JSON body.
_ROUTES: list[tuple[re.Pattern[str], Handler, ErrorResponse]] = [
    (re.compile(r"(?:/v1)?/chat/completions"), _openai_chat.chat_completions, _OPENAI),
    (re.compile(r"(?:/v1)?/responses"), _openai_responses.responses, _OPENAI),
    (re.compile(r"(?:/v1)?/embeddings"), _openai_embeddings.embeddings, _OPENAI),
    (re.compile(r"/v1/messages"), _anthropic.messages, _ANTHROPIC),
    (re.compile(r"/v1\w*/models/(?P<model>[^:]+):generateContent"), _gemini.generate_content, _GEMINI),
    (re.compile(r"/v1\w*/models/(?P<model>[^:]+):streamGenerateContent"), _gemini.stream_generate_content, _GEMINI),
    (re.compile(r"/v1\w*/models/(?P<model>[^:]+):embedContent"), _gemini.embed_content, _GEMINI),
    (re.compile(r"/v1\w*/models/(?P<model>[^:]+):batchEmbedContents"), _gemini.batch_embed_contents, _GEMINI),
    # Bedrock model ids may be ARNs with "/" in them, hence `.+`.
    (re.compile(r"/model/(?P<model>.+)/converse"), _bedrock.converse, _BEDROCK),
    (re.compile(r"/model/(?P<model>.+)/converse-stream"), _bedrock.converse_stream, _BEDROCK),
    (re.compile(r"/model/(?P<model>.+)/invoke"), _bedrock.invoke, _BEDROCK),
    (re.compile(r"/model/(?P<model>.+)/invoke-with-response-stream"), _bedrock.invoke_with_response_stream, _BEDROCK),
]


def handle(request: FakeRequest, settings: Settings) -> FakeResponse:
    """Answer one request; never raises (a crashing handler or responder becomes a logged 500).

    The response's `delay` is the server-wide latency plus what the model name asks for.
    """
    if request.method == "GET" and request.path in ("", "/", "/health"):
        return json_response(200, {"status": "ok", "service": "peekr fake provider"})
    for pattern, handler, error_response in _ROUTES:
        match = pattern.fullmatch(request.path)
        if match is None or request.method != "POST":
            continue
        model = match.groupdict().get("model") or _body_model(request)
        behaviour = Behaviour.from_model(model)
        try:
            if behaviour.error_status:
                response = error_response(behaviour.error_status)
            else:
                response = handler(Call(request, model, behaviour, settings))
        except Exception as exc:  # a bug in the fake or in a user's responder: loud, but still an HTTP answer
            logger.exception("fake provider failed on %s %s", request.method, request.path)
            response = json_response(500, {"error": {"message": f"fake provider crashed: {exc!r}", "type": "fake"}})
        response.delay += settings.latency + behaviour.delay
        return response
    message = f"the fake provider has no route for {request.method} {request.path}"
    return json_response(404, {"error": {"message": message, "type": "not_found_error", "code": None}})


def _body_model(request: FakeRequest) -> str:
    model = request.json.get("model") if isinstance(request.json, dict) else None
    return model if isinstance(model, str) else ""
