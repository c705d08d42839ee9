"""POST /v1/traces with the real OpenTelemetry SDK and OTLP/HTTP exporter (protobuf) and OTLP/JSON bodies,
against a real collector on SQLite and PostgreSQL: mapping, tenancy, idempotency, limits and errors."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest
from collector_helpers import WINDOW, auth, new_key
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from otlp_ingest_helpers import (
    JSON,
    PROTOBUF,
    message_json,
    otel_provider,
    otlp_json,
    partial_success,
    post,
    spans_by_name,
    status_message,
    trace,
)

from peekr._cost import compute_cost
from peekr.server._testing import RunningCollector

MESSAGES_IN = [
    {"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]},
]
MESSAGES_OUT = [
    {
        "role": "assistant",
        "parts": [
            {"type": "text", "content": "Let me check."},
            {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}},
        ],
        "finish_reason": "tool_call",
    }
]


def _genai_trace(provider: TracerProvider) -> tuple[str, str]:
    """An agent span, a GenAI chat span (current conventions) with an evaluation event, and a DB span."""
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("agent.run", attributes={"app.route": "/ask"}) as root:
        with tracer.start_as_current_span("chat gpt-4o-mini") as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 200,
                    "gen_ai.response.finish_reasons": ["tool_call"],
                    "gen_ai.response.id": "chatcmpl-1",
                    "gen_ai.conversation.id": "conv-42",
                    "gen_ai.input.messages": json.dumps(MESSAGES_IN),
                    "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
                    "gen_ai.output.messages": json.dumps(MESSAGES_OUT),
                }
            )
            chat.add_event(
                "gen_ai.evaluation.result",
                {
                    "gen_ai.evaluation.name": "relevance",
                    "gen_ai.evaluation.score.value": 0.8,
                    "gen_ai.evaluation.score.label": "relevant",
                },
            )
        with tracer.start_as_current_span("SELECT orders", attributes={"db.system": "postgresql"}) as db_span:
            db_span.set_status(Status(StatusCode.ERROR, "connection reset"))
            db_span.set_attribute("error.type", "ConnectionResetError")
    return f"{root.get_span_context().trace_id:032x}", f"{root.get_span_context().span_id:016x}"


def test_sdk_exporter_spans_are_mapped_to_peekr_spans(collector: RunningCollector, db: str) -> None:
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    with otel_provider(collector, ingest, service="shop") as provider:
        trace_id, root_id = _genai_trace(provider)
    spans = spans_by_name(collector, read, trace_id)
    root, chat, query = spans["agent.run"], spans["chat gpt-4o-mini"], spans["SELECT orders"]
    assert root["parent_id"] is None and chat["parent_id"] == root_id and query["parent_id"] == root_id
    a = chat["attributes"]
    assert a["model"] == "gpt-4o-mini-2024-07-18" and a["provider"] == "openai"
    assert (a["tokens_input"], a["tokens_output"], a["tokens_total"]) == (1000, 200, 1200)
    assert a["session_id"] == "conv-42" and a["finish_reason"] == "tool_call" and a["response_id"] == "chatcmpl-1"
    assert a["request"] == {"temperature": 0.2}
    assert a["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    assert a["output"] == "Let me check."
    assert a["tool_calls"] == [
        {"id": "call_1", "type": "function", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    # No cost was sent: the collector prices the call from its table.
    expected_cost = compute_cost({"provider": "openai", "model": "gpt-4o-mini-2024-07-18", "tokens_input": 1000,
                                  "tokens_output": 200})  # fmt: skip
    assert expected_cost is not None and a["cost_usd"] == pytest.approx(expected_cost)
    assert a["eval_scores"] == {"relevance": 0.8} and a["relevance_eval"] == {"label": "relevant"}
    assert a["service.name"] == "shop"
    # A non-LLM span stays a plain span, its attributes kept.
    assert root["attributes"]["app.route"] == "/ask" and root["status"] == "ok"
    assert query["status"] == "error" and query["attributes"]["db.system"] == "postgresql"
    assert query["attributes"]["error"] == {"type": "ConnectionResetError", "message": "connection reset"}
    assert chat["duration_ms"] >= 0 and chat["start_time"].endswith("Z")
    listed = httpx.get(collector.url + "/v1/traces", params=WINDOW | {"since": "2000-01-01T00:00:00Z",
                       "until": "2100-01-01T00:00:00Z"}, headers=auth(read)).json()["traces"]  # fmt: skip
    assert [t["trace_id"] for t in listed] == [trace_id] and listed[0]["span_count"] == 3


def _recorded(make: Any) -> list[ReadableSpan]:
    """The spans ``make(provider)`` produced, kept in memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    make(provider)
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_json_and_gzip_bodies_store_the_same_spans(collector: RunningCollector, db: str) -> None:
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    ids: list[tuple[str, str]] = []
    spans = _recorded(lambda provider: ids.append(_genai_trace(provider)))
    body = json.dumps(otlp_json(spans)).encode()
    answer = post(collector, ingest, gzip.compress(body), JSON, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.headers["content-type"] == JSON
    assert answer.json() == {} and partial_success(answer) == (0, "")
    stored = spans_by_name(collector, read, ids[0][0])
    assert stored["chat gpt-4o-mini"]["attributes"]["tokens_total"] == 1200
    assert stored["chat gpt-4o-mini"]["parent_id"] == ids[0][1]
    with otel_provider(collector, ingest, gzip=True) as provider:  # the SDK exporter's own gzip
        gz_trace, _ = _genai_trace(provider)
    assert spans_by_name(collector, read, gz_trace)["chat gpt-4o-mini"]["attributes"]["model"]


def test_resent_batch_is_stored_once_and_another_tenant_sees_none_of_it(collector: RunningCollector, db: str) -> None:
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    other_ingest, other_read = new_key(db, "globex"), new_key(db, "globex", "read")
    ids: list[tuple[str, str]] = []
    request = _request(_recorded(lambda provider: ids.append(_genai_trace(provider))))
    for _ in range(3):
        assert post(collector, ingest, request).status_code == 200
    got = trace(collector, read, ids[0][0])
    assert len(got["spans"]) == 3 and len(got["eval_results"]) == 1
    assert httpx.get(f"{collector.url}/v1/traces/{ids[0][0]}", headers=auth(other_read)).status_code == 404
    assert httpx.get(collector.url + "/v1/traces", headers=auth(other_read)).json()["traces"] == []
    # The same span ids sent with the other tenant's key are that tenant's own copy.
    assert post(collector, other_ingest, request).status_code == 200
    assert all(s["tenant_id"] == "globex" for s in trace(collector, other_read, ids[0][0])["spans"])
    assert all(s["tenant_id"] == "acme" for s in trace(collector, read, ids[0][0])["spans"])


def _request(spans: list[ReadableSpan]) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return bytes(encode_spans(spans).SerializeToString())


def test_one_bad_span_is_rejected_and_the_rest_stored(collector: RunningCollector, db: str) -> None:
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    ids: list[tuple[str, str]] = []
    message = ExportTraceServiceRequest()
    message.ParseFromString(_request(_recorded(lambda provider: ids.append(_genai_trace(provider)))))
    spans = message.resource_spans[0].scope_spans[0].spans
    by_name = {s.name: s for s in spans}
    by_name["SELECT orders"].trace_id = b"\x01" * 8  # half a trace id
    for kv in by_name["chat gpt-4o-mini"].attributes:
        if kv.key == "gen_ai.usage.input_tokens":
            kv.value.int_value = -5
    body = message.SerializeToString()
    for content_type, payload in ((PROTOBUF, body), (JSON, json.dumps(message_json(message)).encode())):
        answer = post(collector, ingest, payload, content_type)
        assert answer.status_code == 200 and answer.headers["content-type"] == content_type
        rejected, error = partial_success(answer)
        assert rejected == 2
        assert "trace_id must be 16 bytes" in error and "tokens_input=-5 must be between 0" in error
    assert [s["name"] for s in trace(collector, read, ids[0][0])["spans"]] == ["agent.run"]


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (PROTOBUF, b"\xff\xff\xff not protobuf", "not a valid OTLP ExportTraceServiceRequest (protobuf)"),
        (JSON, b'{"resourceSpans": [', "body is not valid JSON"),
        (JSON, b'{"resourceSpans": "nope"}', "not a valid OTLP ExportTraceServiceRequest (JSON)"),
        (JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}', "is not a hex id"),
        (JSON, b"[]", "body must be a JSON object"),
    ],
)
def test_malformed_bodies_get_400_with_a_clear_message(
    collector: RunningCollector, db: str, content_type: str, body: bytes, expected: str
) -> None:
    answer = post(collector, new_key(db, "acme"), body, content_type)
    assert answer.status_code == 400 and answer.headers["content-type"] == content_type
    assert expected in status_message(answer) and status_message(answer).startswith("invalid_otlp: ")


def test_keys_types_encodings_and_limits(start_collector: Any, db: str) -> None:
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    spans = _recorded(lambda provider: _genai_trace(provider))
    body = _request(spans)
    with start_collector(max_body_bytes=len(body) + 10, max_records=2) as collector:
        wrong = post(collector, "pk_live_nothere_secret", body)
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        assert "invalid_api_key" in status_message(wrong)
        assert post(collector, read, body).status_code == 403  # a read key cannot ingest
        unsupported = post(collector, ingest, body, "text/plain")
        assert unsupported.status_code == 415 and "application/x-protobuf" in status_message(unsupported)
        assert post(collector, ingest, body, **{"Content-Encoding": "br"}).status_code == 415
        corrupt = post(collector, ingest, b"\x1f\x8b garbage", **{"Content-Encoding": "gzip"})
        assert corrupt.status_code == 400 and "gzip" in status_message(corrupt)
        assert post(collector, ingest, body + b"\x00" * 20).status_code == 413
        too_many = post(collector, ingest, body)  # 3 spans, limit 2
        assert too_many.status_code == 413 and "3 spans exceed the limit of 2" in status_message(too_many)
        assert post(collector, ingest, _request(spans[:2]), "application/x-protobuf; charset=binary").status_code == 200


def _json_span(**fields: Any) -> dict[str, Any]:
    span = {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": "00f067aa0ba902b7",
        "name": "tool call",
        "kind": 1,
        "startTimeUnixNano": "1764000000000000000",
        "endTimeUnixNano": "1764000000250000000",
        "futureField": {"ignored": True},
    }
    return {**span, **fields}


def _json_body(*spans: dict[str, Any]) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}).encode()


def test_hand_written_otlp_json_values_and_hostile_shapes(collector: RunningCollector, db: str) -> None:
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    values = [
        {"key": "retries", "value": {"intValue": "3"}},
        {"key": "ratio", "value": {"doubleValue": 0.5}},
        {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"boolValue": True}]}}},
        {"key": "meta", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": 7}}]}}},
        {"key": "blob", "value": {"bytesValue": "AAE="}},
        {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
    ]
    nan = _json_span(spanId="00f067aa0ba902b8", attributes=[{"key": "x", "value": {"doubleValue": "NaN"}}])
    answer = post(collector, ingest, _json_body(_json_span(attributes=values), nan), JSON)
    assert answer.status_code == 200
    rejected, error = partial_success(answer)
    assert rejected == 1 and "not a finite number" in error  # the NaN span; its neighbour is stored
    (span,) = trace(collector, read, "4bf92f3577b34da6a3ce929d0e0e4736")["spans"]
    a = span["attributes"]
    assert (a["retries"], a["ratio"], a["tags"], a["meta"], a["blob"]) == (3, 0.5, ["a", True], {"k": 7}, "AAE=")
    assert a["kind"] == "tool" and span["duration_ms"] == 250.0
    assert span["start_time"] == "2025-11-24T16:00:00.000000Z"

    deep: dict[str, Any] = {"stringValue": "bottom"}
    for _ in range(80):
        deep = {"arrayValue": {"values": [deep]}}
    for body, expected in [
        (_json_body(_json_span(attributes=[{"key": "d", "value": deep}])), "nest deeper than 64 levels"),
        (_json_body(_json_span(startTimeUnixNano="soon")), "startTimeUnixNano: 'soon' is not an integer"),
        (_json_body(_json_span(attributes=[{"key": "n", "value": {"intValue": "9" * 30}}])), "out of the int64 range"),
        (_json_body(_json_span(name=5)), "spans[0].name: expected a string, got int"),
        (b"[" * 100_000 + b"]" * 100_000, "body is not valid JSON"),
    ]:
        answer = post(collector, ingest, body, JSON)
        assert answer.status_code == 400 and expected in status_message(answer), status_message(answer)


def test_retrieval_older_genai_attributes_and_peekr_names(collector: RunningCollector, db: str) -> None:
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    with otel_provider(collector, ingest) as provider:
        tracer = provider.get_tracer("rag")
        with tracer.start_as_current_span("rag") as root:
            root.set_attributes({"feature": "search", "model": 42, "input": "raw"})
            with tracer.start_as_current_span("retrieve") as retriever:
                retriever.set_attributes(
                    {
                        "openinference.span.kind": "RETRIEVER",
                        "input.value": "capital of France",
                        "retrieval.documents.0.document.id": "doc-1",
                        "retrieval.documents.0.document.score": 0.9,
                        "retrieval.documents.0.document.content": "Paris is the capital of France.",
                        "retrieval.documents.0.document.metadata": json.dumps({"source": "wiki"}),
                        "retrieval.documents.1.document.id": "doc-2",
                        "retrieval.documents.1.document.content": "Lyon is in France.",
                    }
                )
            with tracer.start_as_current_span("openai.chat") as chat:  # OpenLLMetry's older attributes
                chat.set_attributes(
                    {
                        "gen_ai.system": "OpenAI",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.usage.prompt_tokens": 30,
                        "gen_ai.usage.completion_tokens": 5,
                        "gen_ai.prompt.0.role": "user",
                        "gen_ai.prompt.0.content": "What is the capital of France?",
                        "gen_ai.completion.0.role": "assistant",
                        "gen_ai.completion.0.content": "Paris.",
                        "gen_ai.completion.0.finish_reason": "stop",
                        "gen_ai.completion.1.role": "assistant",
                        "gen_ai.completion.1.tool_calls.0.id": "call_9",
                        "gen_ai.completion.1.tool_calls.0.name": "lookup",
                        "gen_ai.completion.1.tool_calls.0.arguments": '{"q": "France"}',
                        "llm.cost.total": 0.25,
                    }
                )
        trace_id = f"{root.get_span_context().trace_id:032x}"
    spans = spans_by_name(collector, read, trace_id)
    retrieval = spans["retrieve"]["attributes"]
    assert retrieval["kind"] == "retrieval"
    assert retrieval["retrieval"] == {
        "query": "capital of France",
        "top_k": None,
        "score_type": None,
        "documents": [
            {"id": "doc-1", "score": 0.9, "text": "Paris is the capital of France.", "metadata": {"source": "wiki"}},
            {"id": "doc-2", "score": None, "text": "Lyon is in France."},
        ],
    }
    assert not any(k.startswith("retrieval.documents.") for k in retrieval)
    chat = spans["openai.chat"]["attributes"]
    assert (chat["provider"], chat["model"], chat["tokens_total"], chat["cost_usd"]) == ("openai", "gpt-4o", 35, 0.25)
    assert chat["input"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert chat["output"] == "Paris." and chat["finish_reason"] == "stop"
    assert chat["tool_calls"] == [{"id": "call_9", "type": "function", "name": "lookup", "arguments": {"q": "France"}}]
    rag = spans["rag"]["attributes"]
    assert rag["feature"] == "search"  # Peekr's own attribute name, plain text: kept as it is
    assert rag["otel.model"] == 42 and rag["otel.input"] == "raw" and "model" not in rag


def test_bad_evaluations_and_feedback_are_reported(collector: RunningCollector, db: str) -> None:
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")

    def attrs(**values: Any) -> list[dict[str, Any]]:
        kinds = {str: "stringValue", float: "doubleValue"}
        return [{"key": k, "value": {kinds[type(v)]: v}} for k, v in values.items()]

    event = {"name": "gen_ai.evaluation.result", "timeUnixNano": "1764000000300000000",
             "attributes": attrs(**{"gen_ai.evaluation.name": "stars", "gen_ai.evaluation.score.value": 4.0})}  # fmt: skip
    scored = _json_span(events=[event])
    carrier = _json_span(spanId="00f067aa0ba902c1", parentSpanId="00f067aa0ba902b7", name="gen_ai.evaluation.result",
                         attributes=attrs(**{"peekr.evaluator": "judge", "gen_ai.evaluation.name": "judge",
                                             "gen_ai.evaluation.score.value": 3.0}))  # fmt: skip
    feedback = _json_span(spanId="00f067aa0ba902c2", name="peekr.feedback",
                          attributes=attrs(**{"peekr.retention_class": "default", "peekr.rating": "meh"}))  # fmt: skip
    answer = post(collector, ingest, _json_body(scored, carrier, feedback), JSON)
    rejected, error = partial_success(answer)
    assert rejected == 2  # the evaluation carrier and the feedback span; the scored span is stored
    assert "evaluation of span 00f067aa0ba902b7: scores.judge=3.0 is outside [0, 1]" in error
    assert "evaluation of span 00f067aa0ba902b7: scores.stars=4.0 is outside [0, 1]" in error
    assert "feedback span of trace 4bf92f3577b34da6a3ce929d0e0e4736: rating" in error
    got = trace(collector, read, "4bf92f3577b34da6a3ce929d0e0e4736")
    assert [s["name"] for s in got["spans"]] == ["tool call"] and got["eval_results"] == [] and got["feedback"] == []
