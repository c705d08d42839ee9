"""peekr's own cost per Gemini call and per chunk, without the SDK's noise (a script, not a test).

Run: ``.venv/bin/python benchmarks/bench_gemini_overhead.py``

The exact wrappers peekr installs (``wrap_sync`` + this integration's describe / on_result / stream
code) around a stand-in ``original`` that returns real ``GenerateContentResponse`` objects parsed by
the SDK once, up front. Compared with calling the stand-in directly. Wall time is on the caller's
thread; CPU time is ``process_time`` over all threads up to a flush (the bus thread's work counts).

The model is one genai-prices does not know, so the bus skips ``compute_cost``: that is the cost
module's work, not this integration's, and is printed on its own at the end.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import bench_gemini
from google.genai import types

import peekr
from peekr.integrations._wrap import wrap_sync
from peekr.integrations.gemini import _describe, _describe_stream, _on_response, _on_stream
from peekr.sinks.memory import InMemorySink

CALLS = 2000
ROUNDS = 9


def main() -> None:
    client = bench_gemini._client()
    config = types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.2)
    kwargs: dict[str, Any] = {"model": "gemini-unpriced", "contents": "Hello there", "config": config}
    response = client.models.generate_content(**kwargs).model_copy(update={"model_version": None})
    chunks = list(client.models.generate_content_stream(model="gemini-unpriced", contents="Hello there"))

    def original(self: object, **kw: Any) -> Any:
        return response

    def original_stream(self: object, **kw: Any) -> Iterator[Any]:
        yield from chunks

    call = wrap_sync("gemini.generate_content", _describe, _on_response)(original)
    stream = wrap_sync("gemini.generate_content_stream", _describe_stream, _on_stream)(original_stream)
    cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "call": (lambda: original(None, **kwargs), lambda: call(None, **kwargs)),
        "stream": (
            lambda: list(original_stream(None, **kwargs)),
            lambda: list(stream(None, **kwargs)),
        ),
    }
    sink = InMemorySink(max_events=10_000_000)
    peekr.instrument(storage="none", sinks=[sink], providers=[])
    for name, (bare, traced) in cases.items():
        walls: list[float] = []
        cpus: list[float] = []
        for _ in range(ROUNDS):
            row = []
            for fn in (bare, traced):
                peekr.flush()
                wall0, cpu0 = time.perf_counter(), time.process_time()
                for _ in range(CALLS):
                    fn()
                wall1 = time.perf_counter()
                peekr.flush()
                row.append(((wall1 - wall0) / CALLS * 1e6, (time.process_time() - cpu0) / CALLS * 1e6))
            walls.append(row[1][0] - row[0][0])
            cpus.append(row[1][1] - row[0][1])
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(f"{name:6}: peekr adds {wall:6.1f} us on the caller's thread, {cpu:6.1f} us CPU incl. bus thread")
    per_chunk = _per_chunk(chunks)
    print(f"stream: {per_chunk:.3f} us per chunk (the same stream repeated to 1000 chunks; minus a bare generator)")
    from peekr._cost import compute_cost

    priced = {"provider": "gemini", "model": "gemini-2.0-flash", "tokens_input": 4, "tokens_output": 3}
    compute_cost(priced)
    start = time.perf_counter()
    for _ in range(500):
        compute_cost(priced)
    print(
        f"(bus thread, not this integration: compute_cost {(time.perf_counter() - start) / 500 * 1e6:.0f} us per priced span)"
    )
    peekr.flush()
    assert len(sink.spans) == ROUNDS * CALLS * 2 + PER_CHUNK_ROUNDS * PER_CHUNK_REPEAT
    peekr.shutdown()


PER_CHUNK_ROUNDS = 15
PER_CHUNK_REPEAT = 20


def _per_chunk(chunks: list[Any]) -> float:
    from peekr._tracer import start_span
    from peekr.integrations._streams import traced_iterator
    from peekr.integrations.gemini import _recorder

    many = chunks * (1000 // len(chunks))

    def bare() -> None:
        def passthrough(items: Iterator[Any]) -> Iterator[Any]:
            yield from items

        for _ in passthrough(iter(many)):
            pass

    def traced() -> None:
        span = start_span("gemini.generate_content", {"provider": "gemini"})
        assert span is not None
        recorder = _recorder(span, "bench")
        for _ in traced_iterator(iter(many), recorder, close_source=True):
            pass

    def best(fn: Callable[[], None]) -> float:
        times = []
        for _ in range(PER_CHUNK_ROUNDS):
            start = time.perf_counter()
            for _ in range(PER_CHUNK_REPEAT):
                fn()
            times.append((time.perf_counter() - start) / PER_CHUNK_REPEAT)
        return min(times)

    return (best(traced) - best(bare)) / len(many) * 1e6


if __name__ == "__main__":
    main()
