"""Assertions shared by the Gemini integration tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import ssl
from typing import Any

from google import genai
from google.genai import types

import peekr
from peekr._span import Span
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

SPAN_NAME = "gemini.generate_content"

# google-genai 3.6.1 subclasses aiohttp.ClientSession for its async transport, which aiohttp 3.14 deprecates.
AIOHTTP_WARNING = "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"

# google-genai builds three TLS contexts per client (~0.1 s, even for http://); one shared context skips that.
_TLS = ssl.create_default_context()
TLS_ARGS: dict[str, Any] = {"client_args": {"verify": _TLS}, "async_client_args": {"verify": _TLS, "ssl": _TLS}}


def make_client(fake: FakeProvider, **options: Any) -> genai.Client:
    """A google-genai client on the fake: one attempt per call (no retries), the shared TLS context."""
    http_options = types.HttpOptions(
        base_url=fake.gemini_base_url,
        retry_options=types.HttpRetryOptions(attempts=1),
        **TLS_ARGS,
        **options,
    )
    return genai.Client(api_key="fake", http_options=http_options)


def finished(sink: InMemorySink) -> list[Span]:
    """The spans recorded so far (after a flush)."""
    assert peekr.flush(timeout=5)
    return sink.spans


def only_span(sink: InMemorySink) -> Span:
    """The one span recorded so far."""
    spans = finished(sink)
    assert len(spans) == 1, [s.attributes for s in spans]
    return spans[0]


def assert_span(
    span: Span,
    attributes: dict[str, Any],
    *,
    status: str = "ok",
    parent_id: str | None = None,
    ttft: bool = False,
) -> None:
    """Assert the whole span: name, status, parent and every attribute (``ttft_ms`` only by presence)."""
    actual = dict(span.attributes)
    ttft_ms = actual.pop("ttft_ms", None)
    assert span.name == SPAN_NAME
    assert actual == attributes
    assert span.status == status
    assert span.parent_id == parent_id
    assert (ttft_ms is not None) == ttft
    if ttft_ms is not None:
        assert isinstance(ttft_ms, float) and 0 <= ttft_ms <= span.duration_ms
    assert span.duration_ms >= 0


def error_attribute(exc: BaseException) -> dict[str, str]:
    """The ``error`` attribute peekr records for an exception raised by google-genai."""
    return {"type": f"google.genai.{type(exc).__qualname__}", "message": str(exc)}
