"""Test helpers for peekr users: an in-memory sink, span capture, and a fake provider server.

Example (pytest)::

    from peekr.testing import capture_spans

    def test_my_llm_code():
        with capture_spans() as sink:
            answer_question("hi")
        (span,) = sink.spans
        assert span.attributes["model"] == "gpt-4o-mini"

The fake provider (``peekr.testing.fake_provider.FakeProvider``) speaks the OpenAI, Anthropic,
Gemini and Bedrock wire formats on 127.0.0.1, so your code runs with the real SDKs offline.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .._api import instrument, shutdown
from .._runtime import get_runtime
from ..sinks.memory import InMemorySink

__all__ = ["InMemorySink", "capture_spans"]


@contextmanager
def capture_spans(*, providers: Sequence[str] | None = None, **options: object) -> Iterator[InMemorySink]:
    """Instrument into an ``InMemorySink`` for the block; flush and shut down at the end.

    Args:
        providers: Providers to patch (all installed ones when None).
        **options: Any other ``peekr.instrument()`` argument (``tenant_id``, ``capture_content``...).

    Yields:
        The sink; read ``sink.spans`` after the block (or call ``peekr.flush()`` inside it).

    Raises:
        RuntimeError: peekr is already running (``peekr.instrument()`` was called, or this is a
            nested ``capture_spans()``): the running instance would not record into this sink, and
            shutting it down at the end of the block would stop the outer one.
    """
    if get_runtime() is not None:
        raise RuntimeError(
            "capture_spans(): peekr is already running (peekr.instrument() or an enclosing capture_spans()); "
            "call peekr.shutdown() first, or read the spans from the sink that instance records into"
        )
    sink = InMemorySink()
    instrument(storage="none", sinks=[sink], providers=providers, **options)  # type: ignore[arg-type]
    try:
        yield sink
    finally:
        shutdown()
