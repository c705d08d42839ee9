"""Peekr's own work per OpenAI chat call on the caller's thread plus the bus's processor stage, as
instruction counts (load-independent) or µs.

The installed ``openai.chat.completions`` wrapper runs around a stand-in for the SDK method that
returns a prebuilt ``ChatCompletion`` (describe, start, record, end, hand-off), then the finished
spans go through the bus's ``Pipeline`` (build, cost) on the same thread. No SDK work, no storage.

Usage::

    .venv/bin/python benchmarks/bench_call_instructions.py --time        # best-of-9 µs per call
    # instructions per call (the difference of two runs cancels start-up), main thread only:
    for n in 0 2000; do valgrind --tool=callgrind --separate-threads=yes \\
        --callgrind-out-file=/tmp/cg.$n.out .venv/bin/python benchmarks/bench_call_instructions.py $n; done
    # then (summary of /tmp/cg.2000.out-01 - summary of /tmp/cg.0.out-01) / 2000
    # --store: the SQLite sink's work too (row build and the multi-row INSERT, in batches of 200,
    # on the same thread, into a fresh database), i.e. everything but the threads' hand-offs.
    # PYTHONHASHSEED=0 makes repeated callgrind runs agree to a few hundred instructions.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from openai.types.chat import ChatCompletion

import peekr
from peekr._pipeline import Pipeline
from peekr._runtime import get_runtime
from peekr.integrations import _wrap
from peekr.integrations.openai import _chat as chat
from peekr.integrations.openai import _chat_astream, _chat_stream, _on_result
from peekr.integrations.openai._common import load_sdk_types

MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "What is the capital of France? Answer in one word."},
]


def main() -> None:
    load_sdk_types()
    peekr.instrument(storage="none")
    runtime = get_runtime()
    assert runtime is not None
    kept: list[Any] = []
    runtime.bus.publish = kept.append  # type: ignore[method-assign,assignment]  # the pending spans, for the pipeline below
    completion = ChatCompletion.model_validate(
        {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 24, "completion_tokens": 5, "total_tokens": 29},
        }
    )

    class Resource:
        _client = None

    on_result = _on_result(chat.record_chat_completion, _chat_stream, _chat_astream)
    wrapped = _wrap.wrap_sync(chat.NAME, chat.describe_chat, on_result)(lambda self, **kwargs: completion)
    resource = Resource()

    def call() -> None:
        wrapped(resource, model="gpt-4o-mini", messages=MESSAGES)

    store = _store() if "--store" in sys.argv else None
    for _ in range(200):
        call()
    records, _ = Pipeline().process(kept)
    if store is not None:
        store(records)
    kept.clear()
    if sys.argv[1:2] == ["--time"]:
        best = float("inf")
        for _ in range(9):
            kept.clear()
            start = time.thread_time()
            for _ in range(2000):
                call()
            Pipeline().process(kept)
            best = min(best, (time.thread_time() - start) / 2000 * 1e6)
        print(f"caller + processor stage: {best:.2f} µs per call (best of 9 x 2000)")
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2000
    pipeline = Pipeline()
    for done in range(n):
        call()
        if (store is not None and len(kept) == 200) or done == n - 1:
            records, _ = pipeline.process(kept)
            kept.clear()
            if store is not None:
                store(records)


def _store() -> Any:
    """``store(records)``: the SQLite sink's row build and INSERT, on this thread."""
    import os
    import tempfile

    from peekr.sinks._sqlite_schema import WRITER_PRAGMAS
    from peekr.sinks.sqlite import MAX_ROWS, SQLiteSink, open_database

    db = open_database(os.path.join(tempfile.mkdtemp(prefix="peekr-bench-"), "traces.db"))
    for pragma in WRITER_PRAGMAS:
        db.execute(pragma)
    sink = SQLiteSink(":memory:")
    sink._max_rows = MAX_ROWS

    def store(records: list[Any]) -> None:
        for sql, params in sink._span_statements(records):
            db.execute(sql, params)

    return store


if __name__ == "__main__":
    main()
