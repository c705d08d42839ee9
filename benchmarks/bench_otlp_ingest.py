"""Collector ingest over OTLP (``POST /v1/traces``) vs Peekr's own wire format (``POST /v1/ingest``).

    .venv/bin/python benchmarks/bench_otlp_ingest.py [--requests 60] [--batch 500] [--concurrency 4]

The same ~1 KB LLM spans as ``bench_server.py``, sent to a real ``peekr server`` subprocess as
pre-built gzipped bodies with fresh span ids (every span a real insert): Peekr wire format v1;
OTLP protobuf as ``OTLPSink`` exports them (``peekr.*`` attributes: rebuilt exactly); OTLP protobuf
with only the GenAI-convention and OpenInference attributes (as another OTel app would send:
mapped, and priced from the table); and OTLP JSON of the latter. PostgreSQL uses
PEEKR_TEST_POSTGRES_DSN (a new database per run), or is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from bench_server import ROOT, Server, make_span, pg_database

from peekr._span import Span
from peekr.server._admin import create_key
from peekr.sinks.otlp import OTLPSink

PROTOBUF, JSON = "application/x-protobuf", "application/json"


def _readables(spans: list[dict[str, Any]], sink: OTLPSink, foreign: bool) -> list[Any]:
    out = []
    for record in spans:
        readable = sink._readable(Span.model_validate(record))
        if foreign:  # what a non-Peekr OTel app sends: no peekr.* attributes
            attributes = {k: v for k, v in readable.attributes.items() if not k.startswith("peekr.")}
            readable._attributes = attributes
        out.append(readable)
    return out


def bodies(kind: str, n_requests: int, batch: int, offset: int) -> tuple[list[bytes], str]:
    """Pre-built gzipped bodies of ``kind`` (encoding is not what is measured)."""
    from google.protobuf import json_format
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    sink = OTLPSink("http://127.0.0.1:9/v1/traces")
    out = []
    for r in range(n_requests):
        spans = [make_span(offset + r * batch + i) for i in range(batch)]
        if kind == "wire":
            data, content_type = json.dumps({"version": 1, "spans": spans}).encode(), JSON
        else:
            message = encode_spans(_readables(spans, sink, foreign=kind != "otlp-peekr"))
            if kind == "otlp-json":
                body = json_format.MessageToDict(message)
                for rs in body["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        for s in ss["spans"]:
                            for key in ("traceId", "spanId", "parentSpanId"):
                                if key in s:
                                    s[key] = __import__("base64").b64decode(s[key]).hex()
                data, content_type = json.dumps(body).encode(), JSON
            else:
                data, content_type = message.SerializeToString(), PROTOBUF
        out.append(gzip.compress(data, 5))
    return out, content_type


async def load(url: str, path: str, key: str, payloads: list[bytes], content_type: str, concurrency: int,
               batch: int) -> dict[str, float]:  # fmt: skip
    latencies: list[float] = []
    warm_up, payloads = payloads[0], payloads[1:]  # connection, first-use imports, price table
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for p in payloads:
        queue.put_nowait(p)
    headers = {"Authorization": f"Bearer {key}", "Content-Encoding": "gzip", "Content-Type": content_type}

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            t0 = time.perf_counter()
            r = await client.post(url + path, content=body, headers=headers)
            latencies.append(time.perf_counter() - t0)
            r.raise_for_status()
            if content_type == JSON and path == "/v1/traces":
                assert "partialSuccess" not in r.json(), r.text

    async with httpx.AsyncClient(timeout=120) as client:
        (await client.post(url + path, content=warm_up, headers=headers)).raise_for_status()
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "spans_per_s": len(payloads) * batch / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000,
    }


VARIANTS = [
    ("wire", "/v1/ingest", "Peekr wire format v1 (`/v1/ingest`, JSON)"),
    ("otlp-peekr", "/v1/traces", "OTLP protobuf from `OTLPSink` (`peekr.*` attributes)"),
    ("otlp-genai", "/v1/traces", "OTLP protobuf, GenAI/OpenInference attributes only (mapped + priced)"),
    ("otlp-json", "/v1/traces", "OTLP JSON, GenAI/OpenInference attributes only"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"peekr-bench-otlp-{uuid.uuid4().hex[:6]}"
    tmp.mkdir(parents=True)
    backends: list[tuple[str, str]] = [("SQLite", str(tmp / "collector.db"))]
    pg = pg_database()
    if pg:
        backends.append(("PostgreSQL", pg[0]))
    prepared = {}
    for n, (kind, _, _) in enumerate(VARIANTS):
        prepared[kind] = bodies(kind, args.requests + 1, args.batch, n * 10_000_000)
    rows: list[str] = []
    for label, db in backends:
        key = create_key(db, "bench")[1]
        server = Server(db)
        try:
            for kind, path, title in VARIANTS:
                payloads, content_type = prepared[kind]
                f = asyncio.run(load(server.url, path, key, payloads, content_type, args.concurrency, args.batch))
                print(label, kind, {k: round(v, 1) for k, v in f.items()})
                rows.append(
                    f"| {label} | {title} | {f['spans_per_s']:,.0f} | {f['p50_ms']:,.1f} | {f['p99_ms']:,.1f} |"
                )
        finally:
            server.stop()
    print()
    print(f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}; "
          f"load average at start {load_before:.1f}.")  # fmt: skip
    print(f"{args.requests} requests x {args.batch} spans per variant, {args.concurrency} connections, gzip.")
    print("| Storage | Body | Ingest spans/s | p50 request ms | p99 request ms |")
    print("| --- | --- | ---: | ---: | ---: |")
    print("\n".join(rows))
    _ = ROOT


if __name__ == "__main__":
    main()
