"""Added cost per LlamaIndex query: peekr vs the uninstrumented query engine vs OpenInference.

Usage::

    .venv/bin/python benchmarks/bench_llamaindex.py                  # 5 rounds x 200 queries
    .venv/bin/python benchmarks/bench_llamaindex.py --rounds 3 --calls 100
    .venv/bin/python benchmarks/bench_llamaindex.py --cell peekr 200  # one cell, JSON out

The app: ``VectorStoreIndex`` (in memory, three documents, a deterministic local embedding) ->
``as_query_engine(similarity_top_k=2)``, its LLM a LlamaIndex chat LLM calling the real OpenAI
client through the fake provider's in-process httpx2 transport (no sockets: the client-side cost
with a zero-latency server). ``llama-index-llms-openai`` needs ``openai<3``, so the LLM class is
the same ``llm_chat_callback`` around ``client.chat.completions.create`` that it is.

Variants (each cell a fresh process):

- ``none``: the uninstrumented query engine;
- ``peekr``: ``peekr.instrument(storage="sqlite")`` (LlamaIndex and OpenAI integrations: 5 spans per
  query — query, retrieve, embedding, synthesize and the ``openai.chat.completions`` span — stored
  in SQLite);
- ``openinference``: ``openinference-instrumentation-llama-index`` with the OTel SDK, a
  ``BatchSpanProcessor`` and a JSON-lines file exporter (it records every LlamaIndex span: the
  count per query is printed).

Method: rounds interleaved (every variant once per round, shuffled); each cell warms up, then times
``calls`` queries; "added" is the median over rounds of (variant - none) within the same round. CPU
is process CPU time (all threads) from the first timed query until everything is persisted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

VARIANTS = ["none", "peekr", "openinference"]
PEEKR_SPANS_PER_QUERY = 5
DOCS = [
    "The Eiffel Tower in Paris is 330 metres tall.",
    "The Statue of Liberty in New York is 93 metres tall.",
    "Mount Fuji in Japan is 3776 metres high.",
]


class _JsonLinesExporter:
    """A file span exporter for the OTel peer: one JSON object per span and line."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        for span in spans:
            self._file.write(span.to_json(indent=None))
            self._file.write("\n")
        self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _setup(variant: str, workdir: Path) -> tuple[Callable[[], None], Callable[[], int]]:
    """Instrument for ``variant``; return (flush, count of persisted records)."""
    if variant == "none":
        return (lambda: None), (lambda: 0)
    if variant == "peekr":
        import peekr

        db = workdir / "traces.db"
        peekr.instrument(storage="sqlite", path=str(db))

        def count() -> int:
            with sqlite3.connect(db) as conn:
                return int(conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0])

        def flush_peekr() -> None:
            assert peekr.flush(timeout=120), "peekr.flush timed out"

        return flush_peekr, count
    from openinference.instrumentation.llama_index import LlamaIndexInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    path = workdir / "otel.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_JsonLinesExporter(path)))  # type: ignore[arg-type]
    LlamaIndexInstrumentor().instrument(tracer_provider=provider)

    def flush() -> None:
        assert provider.force_flush(120_000), "force_flush timed out"

    return flush, lambda: sum(1 for _ in path.open(encoding="utf-8")) if path.exists() else 0


def _engine(client: Any) -> Any:
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, LLMMetadata
    from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
    from llama_index.core.llms.custom import CustomLLM

    class HashEmbedding(BaseEmbedding):
        def _vector(self, text: str) -> list[float]:
            vector = [0.0] * 64
            for word in text.lower().split():
                vector[int(hashlib.sha1(word.strip(".,?").encode()).hexdigest(), 16) % 64] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            return [v / norm for v in vector]

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._vector(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._vector(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._vector(text)

    class OpenAIChat(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name="gpt-4o-mini", is_chat_model=True)

        @llm_chat_callback()
        def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
            wire = [{"role": m.role.value, "content": m.content} for m in messages]
            response = client.chat.completions.create(model="gpt-4o-mini", messages=wire)
            return ChatResponse(message=ChatMessage(role="assistant", content=response.choices[0].message.content))

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            raise NotImplementedError

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            raise NotImplementedError

    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS], embed_model=HashEmbedding())
    return index.as_query_engine(llm=OpenAIChat(), similarity_top_k=2)


def cell(variant: str, calls: int) -> dict[str, float]:
    """Time ``calls`` queries in this process; µs per query (wall and CPU) and records per query."""
    with tempfile.TemporaryDirectory() as tmp:
        from peekr.testing.fake_provider import FakeProvider

        engine = _engine(FakeProvider().openai_client(in_process=True))  # built before instrumenting
        flush, count = _setup(variant, Path(tmp))
        for _ in range(20):  # warm-up (imports, caches); not counted
            engine.query("How tall is the Eiffel Tower?")
        flush()
        before = count()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for _ in range(calls):
            engine.query("How tall is the Eiffel Tower?")
        wall = time.perf_counter() - wall0
        flush()
        cpu = time.process_time() - cpu0
        stored = count() - before
        if variant == "peekr":
            assert stored == PEEKR_SPANS_PER_QUERY * calls, f"peekr: {stored} spans, expected {5 * calls}"
        if variant == "openinference":
            assert stored >= calls, f"openinference: only {stored} spans"
        return {"wall_us": wall / calls * 1e6, "cpu_us": cpu / calls * 1e6, "records": stored / calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", nargs=2, metavar=("VARIANT", "CALLS"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    if args.cell:
        print(json.dumps(cell(args.cell[0], int(args.cell[1]))))
        return
    rounds: list[dict[str, dict[str, float]]] = []
    for _ in range(args.rounds):
        results = {}
        for variant in random.sample(VARIANTS, len(VARIANTS)):
            out = subprocess.run(
                [sys.executable, __file__, "--cell", variant, str(args.calls)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PEEKR_RAISE_INTERNAL_ERRORS": "0"},
            )
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        rounds.append(results)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# {stamp}, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}, ", end="")
    print(f"{args.rounds} rounds x {args.calls} queries")
    base_wall = statistics.median(r["none"]["wall_us"] for r in rounds)
    base_cpu = statistics.median(r["none"]["cpu_us"] for r in rounds)
    print(f"uninstrumented query: {base_wall:.0f} µs wall, {base_cpu:.0f} µs CPU per query")
    print("| variant | spans per query | added wall µs/query | added CPU µs/query (background included) |")
    print("| --- | --- | --- | --- |")
    for variant in VARIANTS[1:]:
        wall = statistics.median(r[variant]["wall_us"] - r["none"]["wall_us"] for r in rounds)
        cpu = statistics.median(r[variant]["cpu_us"] - r["none"]["cpu_us"] for r in rounds)
        records = statistics.median(r[variant]["records"] for r in rounds)
        print(f"| {variant} | {records:.0f} | +{wall:.0f} | +{cpu:.0f} |")


if __name__ == "__main__":
    main()
