"""OTLPSink against a real HTTP endpoint decoding real OTLP protobuf."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import peekr
from peekr._events import EvalResult
from peekr._runtime import get_runtime

trace_service_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
from peekr.sinks.otlp import OTLPSink  # noqa: E402


class _Collector:
    def __init__(self) -> None:
        self.requests: list[object] = []
        self.status = 200
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message = trace_service_pb2.ExportTraceServiceRequest()
                message.ParseFromString(body)
                collector.requests.append(message)
                self.send_response(collector.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[object]:
        return [s for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]  # type: ignore[attr-defined]


@pytest.fixture
def collector() -> Iterator[_Collector]:
    c = _Collector()
    yield c
    c.server.shutdown()
    c.server.server_close()


def _attrs(span: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in span.attributes:  # type: ignore[attr-defined]
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = (
            [v.string_value for v in value.array_value.values] if kind == "array_value" else getattr(value, kind)
        )
    return out


def test_spans_arrive_as_otel_spans_with_genai_attributes(collector: _Collector) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(collector.url, service_name="my-app")])
    with (
        peekr.span("answer") as root,
        peekr.span(
            "openai.chat.completions",
            provider="openai",
            model="gpt-4o-mini",
            tokens_input=9,
            tokens_output=2,
            finish_reason="stop",
            input=[{"role": "user", "content": "hi"}],
        ) as child,
    ):
        pass
    with pytest.raises(RuntimeError), peekr.span("broken"):
        raise RuntimeError("nope")
    get_runtime().publish(  # type: ignore[union-attr]
        EvalResult(
            span_id=child.span_id,
            trace_id=child.trace_id,
            evaluator="hallucination",
            scores={"hallucination": 0.5},
            created_at="2026-01-01T00:00:00.000000Z",
        )
    )
    assert peekr.shutdown()
    spans = {s.name: s for s in collector.spans()}  # type: ignore[attr-defined]
    llm, answer = spans["openai.chat.completions"], spans["answer"]
    assert llm.trace_id.hex() == root.trace_id and llm.span_id.hex() == child.span_id
    assert llm.parent_span_id.hex() == root.span_id and answer.parent_span_id == b""
    attrs = _attrs(llm)
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.usage.input_tokens"] == 9 and attrs["gen_ai.usage.output_tokens"] == 2
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["peekr.input"] == '[{"role":"user","content":"hi"}]'
    assert llm.end_time_unix_nano >= llm.start_time_unix_nano > 1_700_000_000 * 10**9
    assert spans["broken"].status.code == 2 and spans["broken"].status.message == "nope"
    evaluation = spans["peekr.evaluation"]
    assert evaluation.parent_span_id.hex() == child.span_id
    assert _attrs(evaluation)["peekr.score.hallucination"] == 0.5
    resource = collector.requests[0].resource_spans[0].resource  # type: ignore[attr-defined]
    assert {kv.key: kv.value.string_value for kv in resource.attributes}["service.name"] == "my-app"


def test_a_rejecting_collector_is_counted_not_raised(collector: _Collector) -> None:
    collector.status = 400
    peekr.instrument(storage="none", sinks=[OTLPSink(collector.url)])
    with peekr.span("x"):
        pass
    assert peekr.flush()
    assert peekr.stats().dropped == {("otlp", "sink_error"): 1}


def test_bad_endpoint_is_rejected_at_once() -> None:
    with pytest.raises(ValueError, match="http"):
        OTLPSink("localhost:4318")
