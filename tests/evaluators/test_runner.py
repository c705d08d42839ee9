"""The evaluation runner: bounded concurrency, bounded backlog, sampling, filters, isolation; asyncio and trio."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from _evalhelpers import make_span

import peekr
from peekr._events import EvalResult
from peekr._span import Span
from peekr.evaluators import Hallucination, make_subscriber
from peekr.evaluators._base import to_evaluator
from peekr.evaluators._runner import EvaluationRunner
from peekr.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.anyio


class Harness:
    """A runner whose results and drops are collected in lists."""

    def __init__(self, *evaluators: Any) -> None:
        self.results: list[EvalResult] = []
        self.drops: list[tuple[str, str, int]] = []
        specs = [(*to_evaluator(obj, i), obj) for i, obj in enumerate(evaluators)]
        self.runner = EvaluationRunner(specs, self.results.append, lambda s, r, n: self.drops.append((s, r, n)))

    async def wait_for(self, n: int, timeout: float = 10.0) -> None:
        with anyio.fail_after(timeout):
            while len(self.results) < n:  # noqa: ASYNC110 - results arrive via a plain callback
                await anyio.sleep(0.005)

    def dropped(self, reason: str) -> int:
        return sum(n for _, r, n in self.drops if r == reason)


async def test_concurrency_is_bounded_at_the_judge(
    make_hallucination: Callable[..., Hallucination], fake: FakeProvider
) -> None:
    fake.latency = 0.05
    h = Harness(make_hallucination(max_concurrency=3))
    async with anyio.create_task_group() as tg:
        await tg.start(h.runner.run)
        for _ in range(12):
            h.runner.submit(make_span())
        await h.wait_for(12)
        h.runner.close()
    assert fake.max_concurrent == 3  # reached, never exceeded
    assert len(fake.requests) == 24
    assert all(r.status == "ok" for r in h.results)
    assert h.runner.stats()["hallucination"].ok == 12


async def test_full_backlog_drops_new_spans_and_counts_them() -> None:
    release = anyio.Event()

    async def slow(span: Span) -> float:
        await release.wait()
        return 1.0

    h = Harness(peekr.eval.evaluator(slow, max_concurrency=1, max_backlog=2))
    async with anyio.create_task_group() as tg:
        await tg.start(h.runner.run)
        h.runner.submit(make_span())
        await anyio.sleep(0.05)  # the first one is running
        for _ in range(4):
            h.runner.submit(make_span())
        stats = h.runner.stats()["slow"]
        assert (stats.in_flight, stats.backlog, stats.dropped) == (1, 2, 2)
        assert h.drops == [("evaluators.slow", "queue_full", 1)] * 2
        release.set()
        await h.wait_for(3)
        h.runner.close()
    assert [r.scores for r in h.results] == [{"slow": 1.0}] * 3


async def test_sample_rate_and_filter() -> None:
    def always(span: Span) -> float:
        return 0.5

    def never(span: Span) -> float:
        return 0.0

    chosen = peekr.eval.evaluator(always, filter=lambda span: span.name == "pick.me")
    h = Harness(chosen, peekr.eval.evaluator(never, sample_rate=0.0))
    async with anyio.create_task_group() as tg:
        await tg.start(h.runner.run)
        h.runner.submit(make_span(name="pick.me"))
        h.runner.submit(make_span(name="not.me"))
        await h.wait_for(1)
        h.runner.close()
    stats = h.runner.stats()
    assert (stats["always"].submitted, stats["always"].filtered) == (1, 1)
    assert (stats["never"].submitted, stats["never"].sampled_out) == (0, 2)
    assert [(r.evaluator, r.scores) for r in h.results] == [("always", {"always": 0.5})]


async def test_default_filter_takes_only_llm_spans() -> None:
    def score(span: Span) -> float:
        return 1.0

    h = Harness(score)
    async with anyio.create_task_group() as tg:
        await tg.start(h.runner.run)
        h.runner.submit(make_span(name="retrieval", provider=None))
        h.runner.submit(make_span())
        await h.wait_for(1)
        h.runner.close()
    assert len(h.results) == 1 and h.runner.stats()["score"].filtered == 1


async def test_failing_evaluator_is_isolated_and_counted() -> None:
    def broken(span: Span) -> float:
        raise RuntimeError("boom")

    async def fine(span: Span) -> dict[str, float]:
        return {"fine": 1.0, "also": 0.25}

    def out_of_range(span: Span) -> float:
        return 7.0

    h = Harness(broken, fine, out_of_range)
    async with anyio.create_task_group() as tg:
        await tg.start(h.runner.run)
        h.runner.submit(make_span())
        await h.wait_for(3)
        h.runner.close()
    by_name = {r.evaluator: r for r in h.results}
    assert by_name["broken"].status == "failed" and by_name["broken"].error == "RuntimeError: boom"
    assert by_name["fine"].status == "ok" and by_name["fine"].scores == {"fine": 1.0, "also": 0.25}
    assert by_name["out_of_range"].status == "failed" and "expected a float in [0, 1]" in str(
        by_name["out_of_range"].error
    )
    assert ("evaluators.broken", "evaluator_error", 1) in h.drops
    assert h.runner.stats()["broken"].failed == 1


async def test_slow_evaluator_times_out_sync_and_async() -> None:
    async def slow_async(span: Span) -> float:
        await anyio.sleep(5)
        return 1.0

    def slow_sync(span: Span) -> float:
        time.sleep(0.6)
        return 1.0

    h = Harness(peekr.eval.evaluator(slow_async, timeout=0.2), peekr.eval.evaluator(slow_sync, timeout=0.2))
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        await tg.start(h.runner.run)
        h.runner.submit(make_span())
        await h.wait_for(2)
        h.runner.close()
    assert time.monotonic() - started < 2
    assert all(r.status == "failed" and "timed out" in (r.error or "") for r in h.results)
    assert h.dropped("timeout") == 2


async def test_skip_records_nothing() -> None:
    def not_applicable(span: Span) -> object:
        return peekr.eval.SKIP

    h = Harness(not_applicable)
    async with anyio.create_task_group() as tg:
        await tg.start(h.runner.run)
        h.runner.submit(make_span())
        with anyio.fail_after(5):
            while h.runner.stats()["not_applicable"].skipped < 1:  # noqa: ASYNC110 - polling counters
                await anyio.sleep(0.005)
        h.runner.close()
    assert h.results == []


async def test_cancel_ends_running_evaluations_and_counts_them() -> None:
    async def forever(span: Span) -> float:
        await anyio.sleep_forever()
        return 1.0

    h = Harness(peekr.eval.evaluator(forever, max_concurrency=2))
    async with anyio.create_task_group() as tg:
        await tg.start(h.runner.run)
        for _ in range(5):
            h.runner.submit(make_span())
        await anyio.sleep(0.05)
        h.runner.cancel()
    assert h.runner.done.is_set()
    assert h.dropped("shutdown") == 5  # 3 waiting + 2 cancelled while running
    h.runner.submit(make_span())  # after close: counted, never queued
    assert h.dropped("shutdown") == 6


def test_make_subscriber_validates_the_list(make_hallucination: Callable[..., Hallucination]) -> None:
    with pytest.raises(TypeError, match=r"item 1 is str 'hallucination'"):
        make_subscriber([make_hallucination(), "hallucination"])
    with pytest.raises(TypeError, match=r"item 0 is the class Hallucination; pass an instance"):
        make_subscriber([Hallucination])
    with pytest.raises(TypeError, match="expects a list of evaluators"):
        make_subscriber(make_hallucination())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two evaluators are named 'hallucination'"):
        make_subscriber([make_hallucination(), make_hallucination()])
    name, sink = make_subscriber([make_hallucination()])
    assert name == "evaluators" and callable(sink.write)


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(TypeError, match=r"context_extractor=\.\.\.\) expects a callable"):
        Hallucination(context_extractor="input")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_rate must be a number in"):
        Hallucination(sample_rate=2)
    with pytest.raises(ValueError, match="batch_size"):
        Hallucination(batch_size=0)
    with pytest.raises(TypeError, match="filter must be a callable"):
        Hallucination(filter="openai")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_concurrency must be a positive int"):
        peekr.eval.evaluator(lambda s: 1.0, name="x", max_concurrency=0)
    with pytest.raises(TypeError, match="needs name="):
        peekr.eval.evaluator(lambda s: 1.0)
    with pytest.raises(ValueError, match="model must be a non-empty str"):
        peekr.eval.OpenAIJudge("")
