"""Evaluators inside a running peekr: results reach SQLite and JSONL, no self-tracing, bounded shutdown."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from _evalhelpers import CONTEXT, RESPONSE, record_llm_span, wait_until

import peekr
from peekr._events import EvalResult
from peekr._span import Span
from peekr._tracer import start_span
from peekr.evaluators import Hallucination, OpenAIJudge
from peekr.sinks.memory import InMemorySink
from peekr.store._readers import open_traces
from peekr.testing.fake_provider import FakeProvider


def _scored(path: Path, span_id: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        with open_traces(path) as store:
            spans = [s for s in store.query(peekr_filter(), limit=None).spans if s["span_id"] == span_id]
    except ValueError:
        return None
    attrs = spans[0]["attributes"] if spans else {}
    return attrs if "hallucination" in (attrs.get("eval_scores") or {}) else None


def peekr_filter() -> Any:
    from peekr.store._readers import SpanFilter

    return SpanFilter()


@pytest.mark.parametrize("storage", ["sqlite", "jsonl"])
def test_scores_and_verdicts_are_stored_and_read_back(
    make_hallucination: Callable[..., Hallucination], tmp_path: Path, storage: str
) -> None:
    path = tmp_path / f"traces.{'db' if storage == 'sqlite' else 'jsonl'}"
    peekr.instrument(storage=storage, path=path, evaluators=[make_hallucination()], providers=[])  # type: ignore[arg-type]
    span_id = record_llm_span()
    assert wait_until(lambda: _scored(path, span_id) is not None)
    peekr.shutdown()
    attrs = _scored(path, span_id)
    assert attrs is not None
    assert attrs["eval_scores"]["hallucination"] == pytest.approx(1 / 3)
    assert [d["verdict"] for d in attrs["hallucination_details"]] == ["supported", "contradicted", "unsupported"]
    assert attrs["hallucination_eval"]["counts"]["contradicted"] == 1
    if storage == "sqlite":  # the row itself carries the merged score (DESIGN: plain SQL works)
        db = sqlite3.connect(path)
        (score,) = db.execute(
            "SELECT json_extract(attributes, '$.eval_scores.hallucination') FROM spans WHERE span_id = ?", (span_id,)
        ).fetchone()
        (stored,) = db.execute("SELECT COUNT(*) FROM eval_results WHERE span_id = ?", (span_id,)).fetchone()
        db.close()
        assert score == pytest.approx(1 / 3) and stored == 1
    else:  # a record line of its own that readers merge
        records = [json.loads(line) for line in path.read_text().splitlines()]
        evals = [r for r in records if r.get("record") == "eval"]
        assert len(evals) == 1 and evals[0]["span_id"] == span_id and evals[0]["evaluator"] == "hallucination"


def test_failed_evaluation_is_stored_as_failed_not_as_a_score(
    make_hallucination: Callable[..., Hallucination], tmp_path: Path
) -> None:
    path = tmp_path / "traces.db"
    peekr.instrument(path=path, evaluators=[make_hallucination("gpt-4o-mini-error-500")], providers=[])
    span_id = record_llm_span()

    def failed() -> bool:
        with open_traces(path) as store:
            spans = store.query(peekr_filter(), limit=None).spans
        return bool(spans and "hallucination" in (spans[0]["attributes"].get("eval_errors") or {}))

    assert wait_until(failed)
    peekr.shutdown()
    with open_traces(path) as store:
        attrs = store.query(peekr_filter(), limit=None).spans[0]["attributes"]
    assert "HTTP 500" in attrs["eval_errors"]["hallucination"]
    assert "hallucination" not in (attrs.get("eval_scores") or {})
    assert span_id and peekr.stats().dropped.get(("evaluators.hallucination", "eval_failed")) == 1


class _HookedJudge(OpenAIJudge):
    """A judge whose HTTP client records a span per request, exactly as a provider integration does."""

    def _get_client(self) -> Any:
        if self._client is None:

            async def on_request(request: Any) -> None:
                span = start_span("openai.chat.completions", {"provider": "openai", "model": "judge"})
                if span is not None:  # None when instrumentation is suppressed
                    span.end()

            self._client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key="sk-fake",
                max_retries=0,
                http_client=httpx2.AsyncClient(event_hooks={"request": [on_request]}),
            )
        return self._client


def _hooked_judge(fake: FakeProvider) -> OpenAIJudge:
    return _HookedJudge("gpt-4o-mini", base_url=fake.openai_base_url)


def test_judge_calls_are_never_recorded_as_spans(fake: FakeProvider) -> None:
    sink = InMemorySink()
    h = Hallucination(context_extractor=lambda span: CONTEXT, judge=_hooked_judge(fake))
    peekr.instrument(storage="none", sinks=[sink], evaluators=[h], providers=[])
    record_llm_span()
    assert wait_until(lambda: any(isinstance(e, EvalResult) for e in sink.events))
    time.sleep(0.2)
    peekr.flush()
    peekr.shutdown()
    assert len(fake.requests) == 2  # the judge was called ...
    spans = [e for e in sink.events if isinstance(e, Span)]
    assert [s.attributes.get("model") for s in spans] == ["gpt-4o"]  # ... and only the user's span exists
    assert [e.evaluator for e in sink.events if isinstance(e, EvalResult)] == ["hallucination"]


def test_no_self_tracing_with_the_real_openai_integration(fake: FakeProvider) -> None:
    handle = peekr.instrument(storage="memory", providers=None)
    providers = handle.providers
    peekr.shutdown()
    if "openai" not in providers:
        pytest.skip("the openai integration is not available in this checkout")
    sink = InMemorySink()
    h = Hallucination(judge=peekr.eval.OpenAIJudge("gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake"))
    with FakeProvider() as user_llm:
        peekr.instrument(storage="none", sinks=[sink], evaluators=[h], providers=["openai"])
        with openai.OpenAI(base_url=user_llm.openai_base_url, api_key="sk-fake") as client:
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "Paris is the capital of France."}]
            )
        assert wait_until(lambda: any(isinstance(e, EvalResult) for e in sink.events))
        time.sleep(0.2)
        peekr.flush()
        peekr.shutdown()
    spans = [e for e in sink.events if isinstance(e, Span)]
    assert len(spans) == 1 and spans[0].name.startswith("openai.chat")
    assert len(fake.requests) == 2
    result = next(e for e in sink.events if isinstance(e, EvalResult))
    assert result.status == "ok", result.error


def test_shutdown_with_evaluations_in_flight_returns_within_its_timeout(
    make_hallucination: Callable[..., Hallucination], fake: FakeProvider
) -> None:
    sink = InMemorySink()
    h = make_hallucination("gpt-4o-mini-latency-5000", max_concurrency=2)
    peekr.instrument(storage="none", sinks=[sink], evaluators=[h], providers=[])
    for _ in range(5):
        record_llm_span()
    deadline = time.monotonic() + 5
    while fake.in_flight < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.in_flight == 2
    started = time.monotonic()
    finished = peekr.shutdown(timeout=1.0)
    took = time.monotonic() - started
    assert took < 1.6, took
    assert len([e for e in sink.events if isinstance(e, Span)]) == 5  # spans were never held back
    deadline = time.monotonic() + 2
    while peekr.stats().dropped.get(("evaluators.hallucination", "shutdown"), 0) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert peekr.stats().dropped.get(("evaluators.hallucination", "shutdown")) == 5  # 2 cancelled + 3 waiting
    assert finished in (True, False)


def test_a_failing_custom_evaluator_never_touches_spans_or_other_evaluators(
    make_hallucination: Callable[..., Hallucination], tmp_path: Path
) -> None:
    def explode(span: Span) -> float:
        raise ValueError("my evaluator is broken")

    path = tmp_path / "traces.db"
    peekr.instrument(path=path, evaluators=[explode, make_hallucination()], providers=[])
    span_id = record_llm_span()
    assert wait_until(lambda: _scored(path, span_id) is not None)
    peekr.shutdown()
    attrs = _scored(path, span_id)
    assert attrs is not None and attrs["eval_errors"] == {"explode": "ValueError: my evaluator is broken"}
    assert attrs["eval_scores"]["hallucination"] == pytest.approx(1 / 3)
    assert peekr.stats().dropped.get(("evaluators.explode", "evaluator_error")) == 1


def test_publish_path_does_not_wait_for_the_judge(make_hallucination: Callable[..., Hallucination]) -> None:
    sink = InMemorySink()
    peekr.instrument(
        storage="none", sinks=[sink], evaluators=[make_hallucination("gpt-4o-mini-latency-2000")], providers=[]
    )
    started = time.monotonic()
    for _ in range(50):
        record_llm_span(RESPONSE)
    assert time.monotonic() - started < 0.5
    assert peekr.flush(timeout=0.3) is False  # evaluations are still running: flush says so
    assert len([e for e in sink.events if isinstance(e, Span)]) == 50


def test_one_flush_then_shutdown_stores_the_last_scores(
    make_hallucination: Callable[..., Hallucination], tmp_path: Path
) -> None:
    # flush() waits for the evaluations of the spans recorded so far and publishes their results;
    # the shutdown that follows drains them into the sinks.
    path = tmp_path / "traces.db"
    peekr.instrument(path=path, evaluators=[make_hallucination()], providers=[])
    span_ids = [record_llm_span() for _ in range(3)]
    assert peekr.flush(timeout=30) is True
    peekr.shutdown()
    assert all(_scored(path, span_id) is not None for span_id in span_ids)


def test_evaluations_of_evaluations_never_happen(make_hallucination: Callable[..., Hallucination]) -> None:
    seen: list[str] = []

    def spy(span: Span) -> float:
        seen.append(span.name)
        return 1.0

    sink = InMemorySink()
    peekr.instrument(
        storage="none",
        sinks=[sink],
        evaluators=[make_hallucination(), peekr.eval.evaluator(spy, filter=lambda span: True)],
        providers=[],
    )
    record_llm_span()
    assert wait_until(lambda: sum(isinstance(e, EvalResult) for e in sink.events) == 2)
    time.sleep(0.2)
    peekr.flush()
    assert seen == ["openai.chat.completions"]  # results never come back as spans to evaluate
