"""Per-call and per-chunk overhead of the Gemini integration (a script, not a test).

Run: ``.venv/bin/python benchmarks/bench_gemini.py``

The real google-genai client on an in-process ``httpx2.MockTransport`` (no sockets): bare SDK vs
peekr recording into an ``InMemorySink``, interleaved rounds, medians. Wall time is per call on the
caller's thread; CPU time is ``process_time`` (all threads, so the bus thread's work counts).
"""

from __future__ import annotations

import json
import ssl
import statistics
import time
from collections.abc import Callable

import httpx2
from google import genai
from google.genai import types

import peekr
from peekr.sinks.memory import InMemorySink

CHUNKS = 50
ROUNDS = 7
CALLS = 300
_TLS = ssl.create_default_context()

_BODY = json.dumps(
    {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Hello world"}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 2, "totalTokenCount": 11},
        "modelVersion": "gemini-2.0-flash",
    }
).encode()


def _chunk(i: int, last: bool) -> bytes:
    candidate = {"content": {"role": "model", "parts": [{"text": f"w{i} "}]}, "index": 0}
    if last:
        candidate["finishReason"] = "STOP"
    body = {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9 + i}}
    return b"data: " + json.dumps(body).encode() + b"\r\n\r\n"


_SSE = b"".join(_chunk(i, i == CHUNKS - 1) for i in range(CHUNKS))


def _answer(request: httpx2.Request) -> httpx2.Response:
    if request.url.path.endswith(":streamGenerateContent"):
        return httpx2.Response(200, content=_SSE, headers={"content-type": "text/event-stream"})
    return httpx2.Response(200, content=_BODY, headers={"content-type": "application/json"})


def _client() -> genai.Client:
    options = types.HttpOptions(
        base_url="http://bench",
        httpx_client=httpx2.Client(transport=httpx2.MockTransport(_answer)),
        retry_options=types.HttpRetryOptions(attempts=1),
        client_args={"verify": _TLS},
        async_client_args={"verify": _TLS, "ssl": _TLS},
    )
    return genai.Client(api_key="bench", http_options=options)


def _measure(fn: Callable[[], object]) -> tuple[float, float]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(CALLS):
        fn()
    return (time.perf_counter() - wall0) / CALLS * 1e6, (time.process_time() - cpu0) / CALLS * 1e6


def main() -> None:
    client = _client()
    config = types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.2)

    def call() -> object:
        return client.models.generate_content(model="gemini-2.0-flash", contents="Hello there", config=config)

    def stream() -> object:
        return list(client.models.generate_content_stream(model="gemini-2.0-flash", contents="Hello there"))

    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for fn in (call, stream):
        for _ in range(20):
            fn()  # warm up the SDK's lazy imports
    for _ in range(ROUNDS):
        for variant in ("bare", "peekr"):
            sink = InMemorySink()
            if variant == "peekr":
                peekr.instrument(storage="none", sinks=[sink], providers=["gemini"])
            for fn_name, fn in (("call", call), ("stream", stream)):
                results.setdefault((variant, fn_name), []).append(_measure(fn))
            if variant == "peekr":
                peekr.flush()
                assert len(sink.spans) == 2 * CALLS, len(sink.spans)
                peekr.shutdown()
    for fn_name in ("call", "stream"):
        bare = results[("bare", fn_name)]
        traced = results[("peekr", fn_name)]
        wall = statistics.median(t[0] for t in traced) - statistics.median(b[0] for b in bare)
        cpu = statistics.median(t[1] for t in traced) - statistics.median(b[1] for b in bare)
        base = statistics.median(b[0] for b in bare)
        print(f"{fn_name:6}: bare {base:8.1f} us/call, peekr adds {wall:6.1f} us wall, {cpu:6.1f} us CPU (all threads)")


if __name__ == "__main__":
    main()
