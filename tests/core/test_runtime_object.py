"""The runtime as an object: built, started and thrown away by a test, beside the process default."""

from __future__ import annotations

from typing import Any

import pytest

import peekr
from peekr._config import Settings
from peekr._runtime import Runtime, get_runtime, last_runtime
from peekr._span import Span
from peekr._tracer import start_span
from peekr.evaluators import make_subscriber
from peekr.sinks import InMemorySink


def _runtime(sink: InMemorySink, **kwargs: Any) -> Runtime:
    runtime = Runtime(Settings(storage="none", flush_interval=0.05), [("memory", sink)], **kwargs)
    runtime.start()
    return runtime


def test_two_runtimes_side_by_side_each_get_their_own_spans_and_leave_the_default_alone() -> None:
    before = last_runtime()
    a_sink, b_sink = InMemorySink(), InMemorySink()
    a, b = _runtime(a_sink, tenant_id="a"), _runtime(b_sink, tenant_id="b")
    try:
        for name, runtime in (("a.work", a), ("b.work", b), ("a.more", a)):
            span = start_span(name, {"k": 1}, runtime=runtime)
            assert span is not None
            span.end()
        assert start_span("nowhere") is None  # no default runtime: instrumented code passes through
        assert a.flush(5) and b.flush(5)
        assert [(s.name, s.tenant_id) for s in a_sink.spans] == [("a.work", "a"), ("a.more", "a")]
        assert [(s.name, s.tenant_id) for s in b_sink.spans] == [("b.work", "b")]
        assert a.stats().delivered == {"memory": 2} and b.stats().delivered == {"memory": 1}
    finally:
        assert a.shutdown(5) and b.shutdown(5)
    assert get_runtime() is None and last_runtime() is before


def test_runtimes_one_after_another_start_from_zero() -> None:
    for _ in range(2):
        sink = InMemorySink()
        runtime = _runtime(sink)
        span = start_span("once", runtime=runtime)
        assert span is not None
        span.end()
        assert runtime.shutdown(5)
        assert [s.name for s in sink.spans] == ["once"]
        assert runtime.stats().published == 1 and runtime.stats().state == "closed"


def test_a_runtime_of_its_own_gets_its_evaluators_results_not_the_default() -> None:
    peekr.instrument(storage="none", sinks=[default_sink := InMemorySink()])  # a default runtime beside it
    _, evaluators = make_subscriber([peekr.eval.evaluator(lambda span: 0.5, name="half", filter=lambda span: True)])
    sink = InMemorySink()
    runtime = _runtime(sink, evaluators=evaluators)
    span = start_span("judged", runtime=runtime)
    assert span is not None
    span.end()
    assert runtime.flush(10)
    assert runtime.shutdown(5)
    assert [(r.span_id, r.scores) for r in sink.eval_results] == [(span.span_id, {"half": 0.5})]
    assert runtime.evaluator_stats()["half"].ok == 1
    assert peekr.flush(5)
    assert default_sink.events == [] and peekr.stats().dropped == {}


class _Unbuildable:
    """A producer's pending span whose record cannot be built."""

    retention_class = "default"

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}

    def to_span(self) -> Span:
        raise ValueError("no record for you")


@pytest.mark.swallows_internal_errors
def test_a_span_that_cannot_be_built_is_dropped_and_counted_on_its_own_bus() -> None:
    peekr.instrument(storage="none", sinks=[InMemorySink()])
    sink = InMemorySink()
    runtime = _runtime(sink)
    runtime.publish(_Unbuildable())  # type: ignore[arg-type]
    good = start_span("fine", runtime=runtime)
    assert good is not None
    good.end()
    assert runtime.shutdown(5)
    assert [s.name for s in sink.spans] == ["fine"] and len(sink.events) == 1
    assert runtime.stats().dropped == {("bus", "internal_error"): 1}
    assert peekr.stats().dropped == {}  # the default runtime is not blamed


def test_pii_redaction_runs_in_the_processor_stage_before_any_subscriber() -> None:
    sink = InMemorySink()
    runtime = _runtime(sink, retention_class="pii")
    span = start_span(
        "chat", {"provider": "openai", "model": "gpt-4o-mini", "input": "card 4111 1111 1111 1111"}, runtime=runtime
    )
    assert span is not None
    span.end()
    assert runtime.shutdown(5)
    (stored,) = sink.spans
    assert stored.attributes["input"] == "[redacted: retention_class=pii]"
    assert stored.attributes["model"] == "gpt-4o-mini"
