"""peekr.span and @peekr.trace: nesting, errors, generators, no-op when not running."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import peekr
from peekr.sinks import InMemorySink


@pytest.fixture
def sink() -> InMemorySink:
    memory = InMemorySink()
    peekr.instrument(storage="none", sinks=[memory])
    return memory


def _spans(sink: InMemorySink) -> dict[str, peekr.Span]:
    peekr.flush()
    return {s.name: s for s in sink.spans}


def test_nesting_gives_parent_child_and_one_trace_per_root(sink: InMemorySink) -> None:
    with peekr.span("root", k=1) as root:
        root.set_attribute("hits", 3)
        with peekr.span("child"):
            pass
    with peekr.span("other-root"):
        pass
    spans = _spans(sink)
    assert spans["child"].parent_id == spans["root"].span_id
    assert spans["child"].trace_id == spans["root"].trace_id != spans["other-root"].trace_id
    assert spans["root"].parent_id is None
    assert spans["root"].attributes == {"k": 1, "hits": 3}
    assert spans["root"].end_time >= spans["child"].end_time
    span = peekr.Span.model_validate(spans["root"].model_dump())  # valid per the DESIGN schema
    assert span.start_time.endswith("Z") and len(span.start_time) == 27


def test_exceptions_mark_the_span_and_are_reraised_unchanged(sink: InMemorySink) -> None:
    error = KeyError("missing")
    with pytest.raises(KeyError) as caught, peekr.span("failing"):
        raise error
    assert caught.value is error
    span = _spans(sink)["failing"]
    assert span.status == "error"
    assert span.attributes["error"] == {"type": "KeyError", "message": "'missing'"}


def test_trace_decorator_sync_and_async(sink: InMemorySink) -> None:
    @peekr.trace
    def plain(x: int) -> int:
        with peekr.span("inside-plain"):
            return x * 2

    @peekr.trace(name="named", tool="calc")
    async def coro(x: int) -> int:
        return x + 1

    assert plain(4) == 8
    assert plain.__name__ == "plain"
    import asyncio

    assert asyncio.run(coro(1)) == 2
    spans = _spans(sink)
    qualname = "test_trace_decorator_sync_and_async.<locals>.plain"
    assert spans["inside-plain"].parent_id == spans[qualname].span_id
    assert spans["named"].attributes == {"tool": "calc"}


def test_trace_decorator_generators_span_the_whole_iteration(sink: InMemorySink) -> None:
    @peekr.trace(name="gen")
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            with peekr.span("step", i=i):
                pass
            yield i

    @peekr.trace(name="agen")
    async def anumbers(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    assert list(numbers(3)) == [0, 1, 2]
    gen = numbers(10)
    assert next(gen) == 0
    gen.close()  # type: ignore[attr-defined]  # early exit ends the span too

    async def consume() -> list[int]:
        return [i async for i in anumbers(3)]

    import asyncio

    assert asyncio.run(consume()) == [0, 1, 2]
    peekr.flush()
    gens = [s for s in sink.spans if s.name == "gen"]
    assert len(gens) == 2 and all(s.status == "ok" for s in gens)
    steps = [s for s in sink.spans if s.name == "step"]
    assert {s.parent_id for s in steps} == {g.span_id for g in gens}
    assert len([s for s in sink.spans if s.name == "agen"]) == 1


def test_generator_errors_are_recorded_and_reraised(sink: InMemorySink) -> None:
    @peekr.trace(name="bad-gen")
    def bad() -> Iterator[int]:
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        list(bad())
    span = _spans(sink)["bad-gen"]
    assert span.status == "error"
    assert span.attributes["error"]["type"] == "ValueError"


def test_everything_works_and_records_nothing_when_not_running() -> None:
    @peekr.trace
    def f() -> int:
        return 1

    with peekr.span("nothing") as s:
        s.set_attribute("a", 1)
        assert f() == 1
    assert s.is_recording is False
    assert peekr.stats().state in ("unconfigured", "closed")


def test_bad_arguments_raise_at_once() -> None:
    with pytest.raises(ValueError, match="non-empty span name"):
        peekr.span("")
    with pytest.raises(TypeError, match="decorates a function"):
        peekr.trace(42)  # type: ignore[call-overload]


def test_a_span_ended_from_many_threads_at_once_is_published_once(sink: InMemorySink) -> None:
    for round_ in range(20):
        with peekr.span(f"raced-{round_}") as s:
            barrier = threading.Barrier(8)

            def end(span: Any = s, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                span.end()

            threads = [threading.Thread(target=end) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert s.is_recording is False
        # leaving the block ends it once more: still one span
    peekr.flush()
    names = [span.name for span in sink.spans]
    assert sorted(names) == sorted(f"raced-{i}" for i in range(20))
