"""OTLPSink against a real OTLP/HTTP receiver decoding real protobuf: span shape, GenAI evaluation
events (as spans and as log events), pii spans, content switched off, failures.

Attribute names come from the upstream convention packages (``opentelemetry-semantic-conventions``
incubating ``gen_ai`` attributes, ``openinference-semantic-conventions``), not string literals, so
an upstream rename breaks these tests. Provider-by-provider coverage is in test_otlp_providers.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from _otlp_receiver import Receiver, attrs, input_messages, output_messages, running_receiver

import peekr
from peekr._events import EvalResult
from peekr._runtime import get_runtime

GA = pytest.importorskip("opentelemetry.semconv._incubating.attributes.gen_ai_attributes")
OI = pytest.importorskip("openinference.semconv.trace")
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE  # noqa: E402

from peekr.sinks.otlp import OTLPSink  # noqa: E402

SPAN_KIND_INTERNAL, SPAN_KIND_CLIENT = 1, 3  # opentelemetry.proto.trace.v1.Span.SpanKind
STATUS_ERROR = 2
CLAIMS = [
    {"claim": "Paris is in France", "verdict": "supported", "reason": "stated"},
    {"claim": "Paris has 90 million people", "verdict": "contradicted", "reason": "2 million"},
]
CONTENT_ATTRIBUTES = (
    GA.GEN_AI_INPUT_MESSAGES,
    GA.GEN_AI_OUTPUT_MESSAGES,
    GA.GEN_AI_SYSTEM_INSTRUCTIONS,
    OI.SpanAttributes.INPUT_VALUE,
    OI.SpanAttributes.OUTPUT_VALUE,
    "peekr.tool_calls",
    "peekr.hallucination_details",
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def _llm_span(**extra: Any) -> Any:
    return peekr.span(
        "openai.chat.completions",
        provider="openai",
        model="gpt-4o-mini",
        tokens_input=9,
        tokens_output=2,
        finish_reason="stop",
        input=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        output="hello",
        tool_calls=[{"id": "c1", "type": "function", "name": "get_weather", "arguments": '{"city": "Paris"}'}],
        **extra,
    )


def _evaluate(span: Any, **result: Any) -> None:
    result.setdefault("evaluator", "hallucination")
    result.setdefault("created_at", "2026-01-01T00:00:00.000000Z")
    get_runtime().publish(EvalResult(span_id=span.span_id, trace_id=span.trace_id, **result))  # type: ignore[union-attr]


HALLUCINATION = {
    "scores": {"hallucination": 0.5},
    "attributes": {
        "hallucination_eval": {
            "score": 0.5,
            "claims": 2,
            "counts": {"supported": 1, "contradicted": 1, "unsupported": 0},
        },
        "hallucination_details": CLAIMS,
    },
}


def test_spans_arrive_as_genai_spans_with_peekr_names_kept(receiver: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url, service_name="my-app")])
    with peekr.session(session_id="conv-1", user_id="u-7"), peekr.span("answer") as root, _llm_span() as child:
        pass
    with pytest.raises(RuntimeError), peekr.span("broken"):
        raise RuntimeError("nope")
    assert peekr.shutdown()
    spans = {s.name: s for s in receiver.spans()}
    llm, answer, broken = spans["chat gpt-4o-mini"], spans["answer"], spans["broken"]
    assert llm.trace_id.hex() == root.trace_id and llm.span_id.hex() == child.span_id
    assert llm.parent_span_id.hex() == root.span_id and answer.parent_span_id == b""
    assert llm.kind == SPAN_KIND_CLIENT and answer.kind == SPAN_KIND_INTERNAL
    a = attrs(llm)
    assert a[GA.GEN_AI_OPERATION_NAME] == GA.GenAiOperationNameValues.CHAT.value
    assert a[GA.GEN_AI_PROVIDER_NAME] == GA.GenAiProviderNameValues.OPENAI.value
    assert a[GA.GEN_AI_REQUEST_MODEL] == a[GA.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"
    assert a[GA.GEN_AI_USAGE_INPUT_TOKENS] == 9 and a[GA.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert a[GA.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert a[GA.GEN_AI_CONVERSATION_ID] == "conv-1" and a["user.id"] == "u-7"
    assert a["peekr.span.name"] == "openai.chat.completions"  # the round trip back to peekr's name
    assert a[OI.SpanAttributes.OPENINFERENCE_SPAN_KIND] == OI.OpenInferenceSpanKindValues.LLM.value
    assert a[OI.SpanAttributes.LLM_MODEL_NAME] == "gpt-4o-mini"
    assert a[OI.SpanAttributes.LLM_TOKEN_COUNT_PROMPT] == 9
    assert [m.role for m in input_messages(a[GA.GEN_AI_INPUT_MESSAGES])] == ["system", "user"]
    (reply,) = output_messages(a[GA.GEN_AI_OUTPUT_MESSAGES])
    assert [p.type for p in reply.parts] == ["text", "tool_call"] and reply.finish_reason == "stop"
    assert reply.parts[1].arguments == {"city": "Paris"}  # OpenAI's JSON text, as an object
    assert json.loads(a[OI.SpanAttributes.INPUT_VALUE])[1] == {"role": "user", "content": "hi"}  # peekr's raw input
    assert llm.end_time_unix_nano >= llm.start_time_unix_nano > 1_700_000_000 * 10**9
    assert broken.status.code == STATUS_ERROR and broken.status.message == "nope"
    assert attrs(broken)[ERROR_TYPE] == "RuntimeError"
    resource = receiver.traces[0].resource_spans[0].resource
    assert {kv.key: kv.value.string_value for kv in resource.attributes}["service.name"] == "my-app"


def test_user_spans_named_by_the_conventions_get_their_operation_name(receiver: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url)])
    tool = {GA.GEN_AI_OPERATION_NAME: "execute_tool", GA.GEN_AI_TOOL_NAME: "get_weather"}
    with peekr.span("weather lookup", **tool), peekr.span("agent", **{GA.GEN_AI_OPERATION_NAME: "invoke_agent"}):
        pass
    assert peekr.shutdown()
    spans = {s.name: s for s in receiver.spans()}
    tool_span = spans["execute_tool get_weather"]
    assert tool_span.kind == SPAN_KIND_INTERNAL
    a = attrs(tool_span)
    assert a[GA.GEN_AI_TOOL_NAME] == "get_weather" and a["peekr.span.name"] == "weather lookup"
    assert a[OI.SpanAttributes.OPENINFERENCE_SPAN_KIND] == OI.OpenInferenceSpanKindValues.TOOL.value
    assert attrs(spans["invoke_agent"])[OI.SpanAttributes.OPENINFERENCE_SPAN_KIND] == "AGENT"


def _evaluation_attributes_are_the_conventions(a: dict[str, Any]) -> None:
    assert a[GA.GEN_AI_EVALUATION_NAME] == "hallucination"
    assert a[GA.GEN_AI_EVALUATION_SCORE_VALUE] == 0.5
    assert a[GA.GEN_AI_EVALUATION_SCORE_LABEL] == "fail"  # one claim contradicted
    assert a[GA.GEN_AI_EVALUATION_EXPLANATION] == "1 of 2 claims supported; 1 contradicted"


def test_evaluation_results_are_gen_ai_evaluation_result_events_on_a_child_span(receiver: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url)])
    with _llm_span() as llm:
        pass
    _evaluate(llm, **HALLUCINATION)
    _evaluate(llm, evaluator="judge", status="failed", error="judge timed out")
    assert peekr.shutdown()
    carriers = [s for s in receiver.spans() if s.name == "gen_ai.evaluation.result"]
    assert len(carriers) == 2 and not [s for s in receiver.spans() if s.name == "peekr.evaluation"]
    scored = next(s for s in carriers if attrs(s)[GA.GEN_AI_EVALUATION_NAME] == "hallucination")
    assert scored.parent_span_id.hex() == llm.span_id and scored.trace_id.hex() == llm.trace_id
    assert scored.start_time_unix_nano == scored.end_time_unix_nano
    (event,) = scored.events
    assert event.name == "gen_ai.evaluation.result"
    _evaluation_attributes_are_the_conventions(attrs(event))
    a = attrs(scored)
    _evaluation_attributes_are_the_conventions(a)
    assert json.loads(a["peekr.hallucination_details"]) == CLAIMS  # per-claim details kept
    failed = next(s for s in carriers if s is not scored)
    assert attrs(failed)[ERROR_TYPE] == "peekr.EvaluationFailed"
    assert attrs(failed)["peekr.eval_error"] == "judge timed out"
    assert GA.GEN_AI_EVALUATION_SCORE_VALUE not in attrs(failed)


def test_evaluation_results_as_log_events_carry_the_evaluated_span_context(receiver: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url, evaluations="log")])
    with _llm_span() as llm:
        pass
    _evaluate(llm, **HALLUCINATION)
    assert peekr.shutdown()
    assert [s.name for s in receiver.spans()] == ["chat gpt-4o-mini"]  # no carrier span in "log" mode
    (record,) = receiver.log_records()
    assert record.event_name == "gen_ai.evaluation.result"
    assert record.trace_id.hex() == llm.trace_id and record.span_id.hex() == llm.span_id
    a = attrs(record)
    _evaluation_attributes_are_the_conventions(a)
    assert json.loads(a["peekr.hallucination_details"]) == CLAIMS


def test_evaluations_both_ways(receiver: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url, evaluations="both")])
    with _llm_span() as llm:
        pass
    _evaluate(llm, **HALLUCINATION)
    assert peekr.shutdown()
    assert [s.name for s in receiver.spans()].count("gen_ai.evaluation.result") == 1
    assert len(receiver.log_records()) == 1


def test_a_pii_span_exports_metadata_and_never_content(receiver: Receiver) -> None:
    # redact_pii=False: the content reaches the sink unredacted, so only the sink keeps it out.
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url, evaluations="both")], redact_pii=False)
    pii = peekr.session(retention_class="pii")
    with pytest.raises(ValueError), pii, _llm_span(customer_email="a@b.c") as llm:
        raise ValueError("card 4111 1111 1111 1111 declined")
    _evaluate(llm, **HALLUCINATION)
    assert peekr.shutdown()
    spans = {s.name: s for s in receiver.spans()}
    a = attrs(spans["chat gpt-4o-mini"])
    for key in (*CONTENT_ATTRIBUTES, "peekr.customer_email", "peekr.error"):
        assert key not in a, key
    assert "4111" not in json.dumps(a) and "Paris" not in json.dumps(a) and "a@b.c" not in json.dumps(a)
    assert spans["chat gpt-4o-mini"].status.message == "ValueError"  # the type, not the message
    assert a[ERROR_TYPE] == "ValueError" and a["peekr.retention_class"] == "pii"
    assert a[GA.GEN_AI_USAGE_INPUT_TOKENS] == 9 and a[GA.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    evaluation = attrs(spans["gen_ai.evaluation.result"])
    (record,) = receiver.log_records()
    for exported in (evaluation, attrs(record)):
        assert exported[GA.GEN_AI_EVALUATION_SCORE_VALUE] == 0.5
        assert "peekr.hallucination_details" not in exported and "Paris" not in json.dumps(exported)


def test_content_false_exports_no_prompts_or_replies(receiver: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url, content=False)])
    with _llm_span(session_id="s") as llm:
        pass
    _evaluate(llm, **HALLUCINATION)
    assert peekr.shutdown()
    spans = {s.name: s for s in receiver.spans()}
    a = attrs(spans["chat gpt-4o-mini"])
    assert not [key for key in CONTENT_ATTRIBUTES if key in a]
    assert a[GA.GEN_AI_OPERATION_NAME] == "chat" and a[GA.GEN_AI_CONVERSATION_ID] == "s"
    assert "peekr.hallucination_details" not in attrs(spans["gen_ai.evaluation.result"])


def test_a_rejecting_collector_is_counted_not_raised(receiver: Receiver) -> None:
    receiver.status["/v1/traces"] = 400
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url)])
    with peekr.span("x"):
        pass
    assert peekr.flush()
    assert peekr.stats().dropped == {("otlp", "sink_error"): 1}


def test_a_collector_without_a_logs_endpoint_costs_only_the_evaluations(receiver: Receiver) -> None:
    receiver.status["/v1/logs"] = 404  # e.g. Jaeger or Tempo: traces only
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url, evaluations="log")])
    with _llm_span() as llm:
        pass
    assert peekr.flush()
    _evaluate(llm, **HALLUCINATION)
    assert peekr.flush()
    assert [s.name for s in receiver.spans()] == ["chat gpt-4o-mini"]
    assert peekr.stats().dropped == {("otlp", "sink_error"): 1}


def test_bad_arguments_are_rejected_at_once() -> None:
    with pytest.raises(ValueError, match="http"):
        OTLPSink("localhost:4318")
    with pytest.raises(ValueError, match="evaluations"):
        OTLPSink(evaluations="events")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="logs_endpoint"):
        OTLPSink("http://collector:4318/traces", evaluations="log")  # no /v1/traces to derive it from
    assert OTLPSink("http://collector:4318/traces", evaluations="log", logs_endpoint="http://collector:4318/logs")


ODD_INPUTS = {
    "image and audio parts": [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "input_audio", "input_audio": {"data": "[base64 audio: 12 bytes]"}},
                {"type": "text", "text": "what is this?"},
            ],
        }
    ],
    "mixed junk list": [None, 3, "plain", {"role": "user"}, {"type": "reasoning", "summary": []}, [1, [2]]],
    "system blocks and a bare string": {"system": [{"type": "text", "text": "S"}, "T"], "messages": "hi"},
    "unknown dict": {"weird": {"nested": [1, 2]}},
    "a string": "just a string",
    "bedrock image block": {"messages": [{"role": "user", "content": [{"image": {"format": "png"}}, {"text": "hm"}]}]},
}


@pytest.mark.parametrize("value", list(ODD_INPUTS.values()), ids=list(ODD_INPUTS))
def test_odd_content_shapes_still_export_valid_messages(receiver: Receiver, value: Any) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url)])
    calls = [{"id": None, "type": "function", "name": "f", "arguments": "not json {"}]
    with peekr.span(
        "openai.chat.completions", provider="openai", model="m", input=value, output=["a", "b"], tool_calls=calls
    ):
        pass
    assert peekr.shutdown()
    (span,) = receiver.spans()
    a = attrs(span)
    if GA.GEN_AI_INPUT_MESSAGES in a:
        assert all(isinstance(m.role, str) for m in input_messages(a[GA.GEN_AI_INPUT_MESSAGES]))
    first, second = output_messages(a[GA.GEN_AI_OUTPUT_MESSAGES])  # two choices
    assert first.parts[-1].arguments == "not json {" and second.parts[0].content == "b"
    assert json.loads(a[OI.SpanAttributes.OUTPUT_VALUE]) == ["a", "b"]


def test_an_evaluation_with_nothing_to_score_explains_why(receiver: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url)])
    with _llm_span() as llm:
        pass
    summary: dict[str, Any] = {"score": None, "reason": "no factual claims", "claims": 0, "counts": {}}
    _evaluate(llm, scores={"hallucination": None}, attributes={"hallucination_eval": summary})
    assert peekr.shutdown()
    (carrier,) = [s for s in receiver.spans() if s.name == "gen_ai.evaluation.result"]
    a = attrs(carrier)
    assert a[GA.GEN_AI_EVALUATION_EXPLANATION] == "no factual claims"
    assert GA.GEN_AI_EVALUATION_SCORE_VALUE not in a and GA.GEN_AI_EVALUATION_SCORE_LABEL not in a
