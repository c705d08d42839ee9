"""``bench_overhead.py --components``: peekr's per-call and per-chunk pieces timed in isolation, in-process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly and cite your sources."}
QUESTION = "What is the capital of France, and what is it famous for?"


def _messages(scenario: str) -> list[dict[str, str]]:
    return [SYSTEM, {"role": "user", "content": QUESTION}]


def components() -> str:
    """Where peekr's time goes, piece by piece, in this process (best of 7 runs each), next to a fixed
    pure-Python loop measured at the same moment (so the figures survive a loaded machine)."""
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    import peekr
    from peekr._capture import capture
    from peekr._cost import compute_cost
    from peekr._tracer import start_span
    from peekr.integrations._streams import StreamRecorder, traced_iterator
    from peekr.integrations.openai import _chat as chat
    from peekr.integrations.openai._chat_loop import ChatStream
    from peekr.integrations.openai._common import load_sdk_types, trace_sync_stream

    load_sdk_types()
    peekr.instrument(storage="none", providers=["openai"])
    messages = _messages("sync")
    kwargs = {"model": "gpt-4o-mini", "messages": messages, "temperature": 0.2}
    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 24, "completion_tokens": 5, "total_tokens": 29},
        }
    )
    chunks = [
        ChatCompletionChunk.model_validate(
            {
                "id": "x",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}],
            }
        )
        for i in range(200)
    ]
    cost_attributes = {"provider": "openai", "model": "gpt-4o-mini", "tokens_input": 24, "tokens_output": 5}
    compute_cost(cost_attributes)

    class _Response:
        def close(self) -> None:
            pass

    class _Stream:
        def __init__(self, n: int) -> None:
            self._iterator = iter(chunks[:n])
            self.response = _Response()

    def loop() -> None:
        total = 0
        for i in range(1000):
            total += i & 7

    def per_call() -> None:
        name, attributes = chat.describe_chat(None, (), kwargs)
        span = start_span(name, attributes)
        assert span is not None
        chat.record_chat_completion(span, completion)
        span.end()

    def stream(n: int, *, pipeline: str) -> Callable[[], None]:
        def run() -> None:
            source = _Stream(n)
            span = start_span("openai.chat.completions", {"provider": "openai"})
            assert span is not None
            if pipeline == "recorder":  # the shared StreamRecorder + traced_iterator alone
                kept: list[Any] = []
                for _ in traced_iterator(source._iterator, StreamRecorder(span, kept.append, lambda s: None, "x")):
                    pass
                return
            hidden: list[Any] = []  # the usage chunk is taken out before the SDK parses it: nothing to skip here
            state = ChatStream(hidden)
            trace_sync_stream(span, source, state.make_on_chunk, state.finalize, "x")
            for _ in source._iterator:
                pass

        return run

    def best(fn: Callable[[], object], n: int) -> float:
        runs = []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            runs.append((time.perf_counter() - start) / n * 1e6)
        return min(runs)

    reference = best(loop, 200)
    rows = [
        ("describe + start_span + record + end (one non-streamed chat call, caller's thread)", best(per_call, 2000)),
        ("  of which capture(messages)", best(lambda: capture(messages), 2000)),
        ("compute_cost (bus thread, per span)", best(lambda: compute_cost(dict(cost_attributes)), 300)),
    ]
    chunk_rows = []
    for pipeline in ("recorder", "openai"):
        short, long = best(stream(2, pipeline=pipeline), 2000), best(stream(200, pipeline=pipeline), 300)
        chunk_rows.append((pipeline, (long - short) / 198, short))
    peekr.shutdown()
    lines = [
        "## Components (in-process, best of 7; `--components`)",
        "",
        f"A fixed 1000-iteration Python loop took {reference:.1f} µs during this measurement; the last column "
        "gives each figure in those units, which carry over to another machine better than µs do.",
        "",
        "| piece | µs | loops |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {value:.2f} | {value / reference:.3f} |" for name, value in rows]
    for pipeline, per_chunk, fixed in chunk_rows:
        label = "shared StreamRecorder + traced_iterator" if pipeline == "recorder" else "whole OpenAI chat pipeline"
        lines.append(f"| per stream chunk: {label} | {per_chunk:.3f} | {per_chunk / reference:.4f} |")
        lines.append(f"| per stream, fixed part: {label} | {fixed:.2f} | {fixed / reference:.3f} |")
    return "\n".join(lines) + "\n"
