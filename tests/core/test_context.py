"""Sessions: precedence, nesting, propagation into tasks and threads, bad input."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import anyio
import anyio.lowlevel
import pytest

import peekr
from peekr.sinks import InMemorySink


def _one_span(sink: InMemorySink, name: str = "call") -> peekr.Span:
    peekr.flush()
    (span,) = [s for s in sink.spans if s.name == name]
    return span


@pytest.mark.parametrize(
    ("env", "instrument_kwargs", "session_kwargs", "expected"),
    [
        ({}, {}, {}, (None, "default")),
        ({"PEEKR_TENANT_ID": "env-t", "PEEKR_RETENTION_CLASS": "long"}, {}, {}, ("env-t", "long")),
        (
            {"PEEKR_TENANT_ID": "env-t", "PEEKR_RETENTION_CLASS": "long"},
            {"tenant_id": "inst-t", "retention_class": "short"},
            {},
            ("inst-t", "short"),
        ),
        (
            {"PEEKR_TENANT_ID": "env-t", "PEEKR_RETENTION_CLASS": "long"},
            {"tenant_id": "inst-t", "retention_class": "short"},
            {"tenant_id": "sess-t", "retention_class": "pii"},
            ("sess-t", "pii"),
        ),
        ({"PEEKR_RETENTION_CLASS": "forever"}, {}, {}, (None, "default")),  # bad env: warned and ignored
    ],
    ids=["defaults", "env", "instrument-beats-env", "session-beats-all", "bad-env-ignored"],
)
def test_precedence_session_over_instrument_over_environment(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    instrument_kwargs: dict[str, str],
    session_kwargs: dict[str, str],
    expected: tuple[str | None, str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], **instrument_kwargs)  # type: ignore[arg-type]
    with peekr.session(**session_kwargs), peekr.span("call"):  # type: ignore[arg-type]
        pass
    span = _one_span(sink)
    assert (span.tenant_id, span.retention_class) == expected


def test_nested_sessions_inherit_and_override() -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    with peekr.session(user_id="u1", tenant_id="acme", feature="search", attributes={"team": "x"}):
        with peekr.session(user_id="u2", session_id="s9"):
            with peekr.span("call"):
                pass
        with peekr.span("outer-call"):
            pass
    inner = _one_span(sink)
    assert inner.tenant_id == "acme"
    assert inner.attributes == {"user_id": "u2", "session_id": "s9", "feature": "search", "team": "x"}
    assert _one_span(sink, "outer-call").attributes["user_id"] == "u1"


def test_pii_spans_have_content_redacted_unless_opted_out() -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    with peekr.session(retention_class="pii"), peekr.span("call", input="my ssn is 123", output="noted"):
        pass
    span = _one_span(sink)
    assert span.attributes["input"] == span.attributes["output"] == "[redacted: retention_class=pii]"
    peekr.shutdown()
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], redact_pii=False)
    with peekr.session(retention_class="pii"), peekr.span("call", input="kept"):
        pass
    assert _one_span(sink).attributes["input"] == "kept"


def test_bad_session_arguments_raise_clearly() -> None:
    with pytest.raises(ValueError, match=r"retention_class='forever'.*default, short, long, pii"):
        peekr.session(retention_class="forever")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"user_id.*int"):
        peekr.session(user_id=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="attributes"):
        peekr.session(attributes=["a"])  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_session_follows_tasks_and_worker_threads(anyio_backend: object) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    def in_thread() -> None:
        with peekr.span("thread"):
            pass

    async def in_task(name: str) -> None:
        await anyio.lowlevel.checkpoint()
        with peekr.span(name):
            pass

    async with peekr.session(user_id="async-user", tenant_id="t1"):
        async with anyio.create_task_group() as tg:
            tg.start_soon(in_task, "task")
        await anyio.to_thread.run_sync(in_thread)
    # outside the session nothing is inherited
    with peekr.span("after"):
        pass
    await peekr.aflush()
    spans = {s.name: s for s in sink.spans}
    for name in ("task", "thread"):
        assert spans[name].attributes["user_id"] == "async-user"
        assert spans[name].tenant_id == "t1"
    assert "user_id" not in spans["after"].attributes


def test_session_follows_asyncio_create_task_and_copied_context_threads() -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    async def main() -> None:
        async with peekr.session(user_id="u-asyncio"):
            await asyncio.create_task(_record("created-task"))

    async def _record(name: str) -> None:
        with peekr.span(name):
            pass

    asyncio.run(main())
    with peekr.session(user_id="u-thread"):
        ctx = contextvars.copy_context()
        thread = threading.Thread(target=ctx.run, args=(lambda: peekr.span("copied").__enter__().end(),))
        thread.start()
        thread.join()
    peekr.flush()
    spans = {s.name: s for s in sink.spans}
    assert spans["created-task"].attributes["user_id"] == "u-asyncio"
    assert spans["copied"].attributes["user_id"] == "u-thread"
