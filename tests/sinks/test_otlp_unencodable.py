"""OTLPSink: a span holding a value JSON cannot hold is exported with a marker, its neighbours too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")

from _otlp_receiver import Receiver, attrs, running_receiver

import peekr
from peekr.sinks.otlp import OTLPSink


@pytest.fixture
def collector() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def test_a_self_referencing_attribute_loses_only_itself(collector: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(collector.url)])
    loop: dict[str, Any] = {"kept": 1}
    loop["self"] = loop
    for i in range(301):
        with peekr.span("work", i=i) as span:
            if i == 150:
                span.set_attribute("loop", loop)
    assert peekr.flush(timeout=20)
    assert peekr.stats().dropped_total == 0
    spans = {attrs(s)["peekr.i"]: attrs(s) for s in collector.spans()}
    assert sorted(spans) == list(range(301))
    assert spans[150]["peekr.loop"] == '{"kept":1,"self":"[unencodable: circular reference]"}'
