"""A real OTLP/HTTP receiver on 127.0.0.1 that decodes what it gets with the opentelemetry-proto
package, plus readers that check exported GenAI message JSON against the upstream GenAI types
(imported by module name: tests/_helpers is on pytest's ``pythonpath``)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

trace_service_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
logs_service_pb2 = pytest.importorskip("opentelemetry.proto.collector.logs.v1.logs_service_pb2")
genai_types = pytest.importorskip("opentelemetry.util.genai.types")


class Receiver:
    """Accepts ``POST /v1/traces`` and ``POST /v1/logs``; answers ``status`` (per path)."""

    def __init__(self) -> None:
        self.traces: list[Any] = []
        self.logs: list[Any] = []
        self.status = {"/v1/traces": 200, "/v1/logs": 200}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/logs":
                    message: Any = logs_service_pb2.ExportLogsServiceRequest()
                    message.ParseFromString(body)
                    receiver.logs.append(message)
                else:
                    message = trace_service_pb2.ExportTraceServiceRequest()
                    message.ParseFromString(body)
                    receiver.traces.append(message)
                self.send_response(receiver.status.get(self.path, 404))
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[Any]:
        return [s for r in self.traces for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def log_records(self) -> list[Any]:
        return [lr for r in self.logs for rl in r.resource_logs for sl in rl.scope_logs for lr in sl.log_records]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A receiver for the length of the block."""
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def any_value(value: Any) -> Any:
    """A decoded ``AnyValue`` as a plain Python value."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def attrs(item: Any) -> dict[str, Any]:
    """The attributes of a decoded span, span event or log record."""
    return {kv.key: any_value(kv.value) for kv in item.attributes}


# -- GenAI message JSON, read into the upstream GenAI types -----------------------------------------

#: part ``type`` -> upstream dataclass, keyed by the dataclass's own ``type`` default, so an
#: upstream rename of a part type or of a field breaks these tests.
_PART_TYPES = {
    cls.__dataclass_fields__["type"].default: cls
    for cls in (
        genai_types.TextPart,
        genai_types.ToolCallRequestPart,
        genai_types.ToolCallResponsePart,
        genai_types.ReasoningPart,
        genai_types.UriPart,
        genai_types.BlobPart,
        genai_types.FilePart,
    )
}


def _part(raw: dict[str, Any]) -> Any:
    cls = _PART_TYPES.get(raw["type"])
    if cls is None:  # a generic part: only its type is defined
        assert isinstance(raw["type"], str)
        return genai_types.GenericPart(type=raw["type"])
    names = {f.name for f in dataclasses.fields(cls)}
    assert set(raw) <= names, f"{raw['type']} part has fields upstream does not know: {set(raw) - names}"
    return cls(**raw)


def input_messages(text: str) -> list[Any]:
    """``gen_ai.input.messages`` JSON -> upstream ``InputMessage`` objects."""
    return [genai_types.InputMessage(**{**m, "parts": [_part(p) for p in m["parts"]]}) for m in json.loads(text)]


def output_messages(text: str) -> list[Any]:
    """``gen_ai.output.messages`` JSON -> upstream ``OutputMessage`` objects (finish_reason required)."""
    raw = json.loads(text)
    assert all(isinstance(m["finish_reason"], str) for m in raw)
    return [genai_types.OutputMessage(**{**m, "parts": [_part(p) for p in m["parts"]]}) for m in raw]


def system_instructions(text: str) -> list[Any]:
    """``gen_ai.system_instructions`` JSON -> upstream parts."""
    return [_part(p) for p in json.loads(text)]
