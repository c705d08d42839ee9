"""Peekr ``OTLPSink`` -> a real collector's ``/v1/traces`` -> the same spans, eval results and feedback,
field for field (SQLite and PostgreSQL): real openai SDK calls against the bundled fake provider."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from collector_helpers import auth, new_key
from otlp_ingest_helpers import trace

import peekr
from peekr._events import EvalResult, Feedback, merge_eval_result
from peekr._runtime import get_runtime
from peekr.server._testing import RunningCollector
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytest.importorskip("openai")
OTLPSink = pytest.importorskip("peekr.sinks.otlp").OTLPSink

TOOLS: Any = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
]
ODD = {
    "nested": {"a": [1, 2.5, None, {"b": "c"}], "empty": {}},
    "mixed": [1, "two", 3.0],
    "ints": [1, 2, 3],
    "empty_list": [],
    "flag": False,
    "ratio": 0.1 + 0.2,
    "text": "héllo 🌍",
}


def _calls(fake: FakeProvider) -> None:
    client = fake.openai_client()
    try:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            temperature=0.2,
            max_tokens=50,
            stop=["END"],
        )
        list(
            client.chat.completions.create(
                model="gpt-4o-mini-tool", messages=[{"role": "user", "content": "weather?"}], tools=TOOLS, stream=True
            )
        )
        with pytest.raises(Exception, match="429"):
            client.chat.completions.create(model="gpt-4o-error-429", messages=[{"role": "user", "content": "x"}])
        client.embeddings.create(model="text-embedding-3-small", input="hello")
        client.responses.create(model="gpt-4o", instructions="Be brief.", input="hi")
    finally:
        client.close()


def test_a_peekr_span_comes_back_identical(collector: RunningCollector, db: str) -> None:
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    memory = InMemorySink()
    peekr.instrument(
        tenant_id="acme",
        storage="none",
        sinks=[memory, OTLPSink(collector.url + "/v1/traces", headers=auth(ingest), service_name="shop")],
    )
    with FakeProvider() as fake, peekr.session(session_id="conv-1", user_id="u-7"):
        with peekr.span("agent.run", feature="support", **ODD) as root:
            _calls(fake)
            with peekr.span(
                "weather lookup", **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"}
            ):
                pass
            with pytest.raises(RuntimeError), peekr.span("broken"):
                raise RuntimeError("nope")
    assert peekr.flush()
    llm = next(s for s in memory.spans if s.attributes.get("model") == "gpt-4o-mini")
    runtime = get_runtime()
    assert runtime is not None
    runtime.publish(
        EvalResult(
            span_id=llm.span_id,
            trace_id=llm.trace_id,
            evaluator="hallucination",
            scores={"hallucination": 0.5},
            attributes={
                "hallucination_eval": {"score": 0.5, "claims": 2, "counts": {"supported": 1, "contradicted": 1}},
                "hallucination_details": [{"claim": "Paris is in France", "verdict": "supported"}],
            },
            created_at="2026-01-01T00:00:00.000000Z",
        )
    )
    runtime.publish(
        EvalResult(
            span_id=llm.span_id,
            trace_id=llm.trace_id,
            evaluator="judge",
            status="failed",
            error="judge timed out",
            created_at="2026-01-01T00:00:01.000000Z",
        )
    )
    runtime.publish(
        Feedback(trace_id=root.trace_id, rating="bad", note="made up", created_at="2026-01-01T00:00:02.000000Z")
    )
    assert peekr.shutdown()
    assert not peekr.stats().dropped

    sent = {s.span_id: s.model_dump(mode="json") for s in memory.spans}
    assert len(sent) == 8
    got = trace(collector, read, root.trace_id)
    stored = {s["span_id"]: s for s in got["spans"]}
    assert set(stored) == set(sent)  # no evaluation or feedback carrier span stored as a span
    expected = copy.deepcopy(sent)
    for result in memory.eval_results:
        merge_eval_result(expected[result.span_id]["attributes"], result)
    for span_id, span in expected.items():
        assert stored[span_id] == span, span["name"]
    assert _evals(got["eval_results"]) == _evals([r.model_dump(mode="json") for r in memory.eval_results])
    assert [(f["rating"], f["note"], f["span_id"]) for f in got["feedback"]] == [("bad", "made up", None)]


def _evals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("span_id", "trace_id", "evaluator", "status", "scores", "attributes", "error", "created_at")
    return sorted(({k: r[k] for k in keys} for r in results), key=lambda r: r["evaluator"])
