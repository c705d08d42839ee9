"""``peekr.testing.capture_spans``, used the way the README tells users to: real SDK calls to the
fake provider over real HTTP, inside and outside the block, nested, and in async code."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import openai
import pytest

import peekr
from peekr.testing import capture_spans
from peekr.testing.fake_provider import FakeProvider

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def _client(fake: FakeProvider) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)


def test_spans_of_a_real_sdk_call(fake: FakeProvider) -> None:
    with capture_spans(providers=["openai"], tenant_id="t1") as sink:
        reply = _client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content  # the user's call is untouched
    (span,) = sink.spans  # flushed at the end of the block: no peekr.flush() needed
    assert span.name == "openai.chat.completions" and span.status == "ok"
    assert span.attributes["model"].startswith("gpt-4o-mini")
    assert span.attributes["tokens_total"] > 0 and span.tenant_id == "t1"
    assert span.attributes["input"] == MESSAGES


def test_after_the_block_nothing_is_recorded_and_the_spans_stay(fake: FakeProvider) -> None:
    client = _client(fake)
    with capture_spans(providers=["openai"]) as sink:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert peekr.stats().state == "closed"
    after = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert after.choices[0].message.content  # calls still work, unrecorded
    assert len(sink.spans) == 1
    with capture_spans(providers=["openai"]) as again:  # a later block starts afresh
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert len(again.spans) == 1 and len(sink.spans) == 1


def test_spans_of_a_failed_call_are_captured(fake: FakeProvider) -> None:
    with capture_spans(providers=["openai"]) as sink, pytest.raises(openai.RateLimitError):
        _client(fake).chat.completions.create(model="gpt-4o-mini-error-429", messages=MESSAGES)  # type: ignore[arg-type]
    (span,) = sink.spans
    assert span.status == "error" and span.attributes["error"]["type"] == "openai.RateLimitError"


def test_nested_use_is_refused_and_keeps_the_outer_capture(fake: FakeProvider) -> None:
    client = _client(fake)
    with capture_spans(providers=["openai"]) as outer:
        with pytest.raises(RuntimeError, match="already running"), capture_spans(providers=["openai"]):
            pass  # pragma: no cover - never entered
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
    assert len(outer.spans) == 1  # the refused inner block did not shut the outer one down


def test_refused_while_the_app_instrumented_peekr() -> None:
    peekr.instrument(storage="none", providers=["openai"])
    with pytest.raises(RuntimeError, match="already running"), capture_spans():
        pass  # pragma: no cover
    assert peekr.flush(5)  # the app's own peekr is still running


@pytest.mark.anyio
async def test_in_async_code(fake: FakeProvider) -> None:
    # Non-streaming calls: the openai SDK's own stream generators warn when collected under trio.
    client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)

    async def ask(model: str) -> None:
        await client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]

    with capture_spans(providers=["openai"]) as sink:
        async with peekr.span("handle_request") as root:
            async with anyio.create_task_group() as tg:  # two calls at once, both under the root
                tg.start_soon(ask, "gpt-4o-mini")
                tg.start_soon(ask, "gpt-4o")
    await client.close()
    calls = [span for span in sink.spans if span.name == "openai.chat.completions"]
    assert len(sink.spans) == 3 and len(calls) == 2
    assert {span.parent_id for span in calls} == {root.span_id}
    assert {span.trace_id for span in sink.spans} == {root.trace_id}
    assert sorted(span.attributes["model"][:6] for span in calls) == ["gpt-4o", "gpt-4o"]
