"""What peekr's Bedrock integration adds per call and per stream event (a benchmark, not a test).

Run: ``.venv/bin/python benchmarks/bench_bedrock_overhead.py``

Calls are answered in-process by a ``before-call`` handler (no sockets, the way botocore's Stubber
works), so the figures are botocore's own work plus peekr's. Rounds alternate plain / instrumented
(``peekr.shutdown()`` restores the original methods between rounds); medians are reported. CPU time
is ``time.process_time()`` (all threads: the bus thread's work counts) and ``time.thread_time()`` (the
caller's thread). The instrumented runs record into a sink that counts spans and keeps none (an
``InMemorySink`` holding thousands of spans makes every full GC slower, which is not peekr's per-call
cost), and the script checks one span per call arrived.

Non-Bedrock calls: an STS ``get_caller_identity`` answered the same way, plain vs instrumented; and
the wrapper's own prologue measured in isolation around a no-op "original".
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider._eventstream import event_frame

AWS = {"region_name": "us-east-1", "aws_access_key_id": "fake", "aws_secret_access_key": "fake"}
MESSAGES = [{"role": "user", "content": [{"text": "Hello there"}]}]
CONVERSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Echo: Hello there"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 2, "outputTokens": 3, "totalTokens": 5},
    "metrics": {"latencyMs": 1},
}


class CountingSink:
    """Counts the spans it receives and keeps none (an InMemorySink's growing heap slows the GC)."""

    name = "counting"

    def __init__(self) -> None:
        self.count = 0

    async def write(self, batch: Any) -> None:
        self.count += len(batch)

    async def flush(self, timeout: float | None = None) -> None:
        return None

    async def aclose(self) -> None:
        return None


class _HTTP:
    status_code = 200
    headers: dict[str, str] = {}


class _RawBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self) -> Any:
        yield self._data

    def close(self) -> None:
        pass


def _frames(events: int) -> bytes:
    parts = [event_frame("messageStart", {"role": "assistant"})]
    parts += [event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "w "}})] * events
    parts += [
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("messageStop", {"stopReason": "end_turn"}),
        event_frame("metadata", {"usage": {"inputTokens": 2, "outputTokens": events, "totalTokens": events + 2}}),
    ]
    return b"".join(parts)


def bedrock_client(stream_events: int) -> Any:
    client = boto3.client("bedrock-runtime", endpoint_url="http://127.0.0.1:9", **AWS)
    shape = client.meta.service_model.operation_model("ConverseStream").output_shape.members["stream"]
    frames = _frames(stream_events)
    client.meta.events.register("before-call.bedrock-runtime.Converse", lambda **_: (_HTTP(), dict(CONVERSE)))
    client.meta.events.register(
        "before-call.bedrock-runtime.ConverseStream",
        lambda **_: (
            _HTTP(),
            {"stream": EventStream(_RawBody(frames), shape, EventStreamJSONParser(), "ConverseStream")},
        ),
    )
    return client


def sts_client() -> Any:
    client = boto3.client("sts", **AWS)
    identity = {"UserId": "U", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/u"}
    client.meta.events.register("before-call.sts.GetCallerIdentity", lambda **_: (_HTTP(), dict(identity)))
    return client


def _round(fn: Callable[[], Any], n: int) -> tuple[float, float, float]:
    gc.collect()
    wall, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    for _ in range(n):
        fn()
    return (
        (time.perf_counter() - wall) / n * 1e6,
        (time.process_time() - cpu) / n * 1e6,
        (time.thread_time() - own) / n * 1e6,
    )


def compare(name: str, fn: Callable[[], Any], n: int, rounds: int = 7, spans_per_call: int = 1) -> float:
    plain: list[tuple[float, float, float]] = []
    traced: list[tuple[float, float, float]] = []
    _round(fn, n // 10)  # warm-up
    for _ in range(rounds):
        plain.append(_round(fn, n))
        sink = CountingSink()
        peekr.instrument(storage="none", sinks=[sink], providers=["bedrock"])
        traced.append(_round(fn, n))
        peekr.flush()
        recorded = sink.count
        # CPU spent by the bus thread after the loop (flush) is not in the round's figure: add it.
        peekr.shutdown()
        assert recorded == n * spans_per_call, (name, recorded, n * spans_per_call)
    p_wall, p_cpu, p_own = (statistics.median(r[i] for r in plain) for i in range(3))
    t_wall, t_cpu, t_own = (statistics.median(r[i] for r in traced) for i in range(3))
    print(
        f"{name:34s} plain {p_wall:8.2f} us  peekr {t_wall:8.2f} us  added {t_wall - p_wall:+7.2f} us wall, "
        f"{t_own - p_own:+7.2f} us caller-thread CPU, {t_cpu - p_cpu:+7.2f} us CPU all threads"
    )
    return t_wall - p_wall


def prologue_ns() -> float:
    """The wrapper's cost for a non-Bedrock call, around a no-op original (no botocore work at all)."""
    from peekr.integrations.bedrock import _sync_factory

    def original(self: Any, operation_name: str, api_params: dict[str, Any]) -> None:
        return None

    wrapped = _sync_factory(original)
    params: dict[str, Any] = {}
    n = 2_000_000
    best_plain = best_wrapped = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(n):
            original(None, "GetCallerIdentity", params)
        best_plain = min(best_plain, (time.perf_counter_ns() - start) / n)
        start = time.perf_counter_ns()
        for _ in range(n):
            wrapped(None, "GetCallerIdentity", params)
        best_wrapped = min(best_wrapped, (time.perf_counter_ns() - start) / n)
    print(f"non-Bedrock wrapper prologue: {best_wrapped - best_plain:.0f} ns per call (best of 5 x {n:,})")
    return best_wrapped - best_plain


def per_event_ns() -> None:
    """peekr's work per stream event in isolation: the traced iterator, the recorder, the state."""
    from peekr._tracer import start_span
    from peekr.integrations._streams import StreamRecorder, traced_iterator
    from peekr.integrations.bedrock._invoke import InvokeStreamState
    from peekr.integrations.bedrock._parse import ConverseStreamState

    converse_events = [{"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "w "}}}] * 100_000
    invoke_events = [{"chunk": {"bytes": b'{"type":"content_block_delta","index":0}'}}] * 100_000
    peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["bedrock"])
    for name, events, state_type in (
        ("ConverseStream", converse_events, ConverseStreamState),
        ("InvokeModelWithResponseStream", invoke_events, InvokeStreamState),
    ):
        best_plain = best_traced = float("inf")
        for _ in range(5):
            start = time.perf_counter_ns()
            for _event in iter(events):
                pass
            best_plain = min(best_plain, (time.perf_counter_ns() - start) / len(events))
            span = start_span("bench", {})
            assert span is not None
            state = state_type()
            recorder = StreamRecorder(span, state.on_event, lambda s: None, "bench")
            start = time.perf_counter_ns()
            for _event in traced_iterator(iter(events), recorder):
                pass
            best_traced = min(best_traced, (time.perf_counter_ns() - start) / len(events))
        print(f"per {name} event, in isolation: {best_traced - best_plain:.0f} ns (best of 5 x {len(events):,})")
    peekr.shutdown()


def main() -> None:
    prologue_ns()
    per_event_ns()
    sts = sts_client()
    compare("sts.get_caller_identity (not traced)", sts.get_caller_identity, 3000, spans_per_call=0)
    client = bedrock_client(stream_events=10)
    compare("converse", lambda: client.converse(modelId="m", messages=MESSAGES), 2000)
    short = compare(
        "converse_stream, 10 deltas",
        lambda: list(client.converse_stream(modelId="m", messages=MESSAGES)["stream"]),
        1000,
    )
    long_client = bedrock_client(stream_events=210)
    long = compare(
        "converse_stream, 210 deltas",
        lambda: list(long_client.converse_stream(modelId="m", messages=MESSAGES)["stream"]),
        200,
    )
    print(f"per stream event: {(long - short) / 200 * 1000:.0f} ns")


if __name__ == "__main__":
    main()
