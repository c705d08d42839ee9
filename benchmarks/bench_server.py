"""Collector ingest throughput and latency (SQLite, PostgreSQL) and HTTPExporter throughput.

    .venv/bin/python benchmarks/bench_server.py [--requests 200] [--batch 500] [--concurrency 4]

The collector runs as a real ``peekr server`` subprocess (uvicorn, 1 worker); the load generator
is an asyncio httpx client in this process sending pre-built gzipped wire-format bodies, each
with fresh span ids, so every span is a real insert. PostgreSQL uses PEEKR_TEST_POSTGRES_DSN
(a new database is created per run), or is skipped. Results go to benchmarks/results/server.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from peekr._span import Span, new_span_id, new_trace_id  # noqa: E402
from peekr.server._admin import create_key  # noqa: E402
from peekr.server._testing import free_port  # noqa: E402
from peekr.sinks.http import HTTPExporter, encode_batch  # noqa: E402


def make_span(i: int) -> dict[str, Any]:
    """A realistic LLM span: ~1 KB of attributes."""
    return {
        "trace_id": new_trace_id(),
        "span_id": new_span_id(),
        "parent_id": None,
        "name": "openai.chat.completions",
        "start_time": f"2026-11-27T09:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1_000_000:06d}Z",
        "end_time": "2026-11-27T10:00:00.000000Z",
        "duration_ms": 120.0 + i % 500,
        "status": "ok" if i % 50 else "error",
        "tenant_id": None,
        "retention_class": "default",
        "attributes": {
            "provider": "openai",
            "model": ["gpt-4o", "gpt-4o-mini", "o3"][i % 3],
            "tokens_input": 420,
            "tokens_output": 96,
            "tokens_total": 516,
            "cost_usd": 0.00123,
            "feature": ["search", "chat", "summarize"][i % 3],
            "input": [{"role": "user", "content": "Summarize the quarterly report for the board. " * 8}],
            "output": "The quarterly report shows revenue growth of 12% driven by enterprise sales. " * 4,
        },
    }


def bodies(n_requests: int, batch: int) -> list[bytes]:
    """Pre-built gzipped ingest bodies (encoding is not what is measured here)."""
    out = []
    for r in range(n_requests):
        spans = [make_span(r * batch + i) for i in range(batch)]
        out.append(gzip.compress(json.dumps({"version": 1, "spans": spans}).encode(), 5))
    return out


class Server:
    """``python -m peekr.cli server`` in a subprocess."""

    def __init__(self, db: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "peekr.cli", "server", "--db", db, "--port", str(self.port),
               "--rate-limit", "0", "--purge-interval", "0", "--log-level", "warning"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def load(url: str, key: str, payloads: list[bytes], concurrency: int) -> dict[str, float]:
    """Send every payload with ``concurrency`` connections; return throughput and latency figures."""
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for p in payloads:
        queue.put_nowait(p)
    stored = 0
    headers = {"Authorization": f"Bearer {key}", "Content-Encoding": "gzip", "Content-Type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal stored
        while not queue.empty():
            body = queue.get_nowait()
            t0 = time.perf_counter()
            r = await client.post(url + "/v1/ingest", content=body, headers=headers)
            latencies.append(time.perf_counter() - t0)
            r.raise_for_status()
            stored += r.json()["stored"]

    async with httpx.AsyncClient(timeout=60) as client:
        # warm-up request (connection, prepared statements)
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "spans_per_s": stored / elapsed,
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000,
        "stored": stored,
    }


async def query_latency(url: str, key: str) -> dict[str, float]:
    """Median of 5 calls each: first page of traces, and hourly aggregates per model (24 h window)."""
    headers = {"Authorization": f"Bearer {key}"}
    window = {"since": "2026-11-27T00:00:00Z", "until": "2026-11-28T00:00:00Z"}
    out: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=120) as client:
        for name, path, params in [
            ("traces_ms", "/v1/traces", {"limit": 50}),
            ("aggregates_ms", "/v1/stats/aggregates", {**window, "group_by": "model", "interval": "hour"}),
        ]:
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                (await client.get(url + path, params=params, headers=headers)).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
            out[name] = statistics.median(times)
    return out


async def exporter_throughput(url: str, key: str, n_batches: int, batch: int) -> dict[str, float]:
    """HTTPExporter.write of ``batch``-span batches, one after another (encode + gzip + POST)."""
    spans = [[Span.model_validate(make_span(b * batch + i)) for i in range(batch)] for b in range(n_batches)]
    started = time.perf_counter()
    for b in spans:
        gzip.compress(encode_batch(b), 5)
    encode_s = time.perf_counter() - started
    exporter = HTTPExporter(url, key, max_batch_size=batch)
    started = time.perf_counter()
    for b in spans:
        await exporter.write(b)
    elapsed = time.perf_counter() - started
    await exporter.aclose()
    assert exporter.dropped == {}, exporter.dropped
    return {
        "spans_per_s": exporter.exported / elapsed,
        "encode_spans_per_s": n_batches * batch / encode_s,
        "exported": exporter.exported,
    }


def pg_database() -> tuple[str, str] | None:
    dsn = os.environ.get("PEEKR_TEST_POSTGRES_DSN")
    if not dsn:
        return None
    import asyncpg

    name = f"peekr_bench_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(dsn)
        await conn.execute(f"CREATE DATABASE {name}")
        await conn.close()

    asyncio.run(create())
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name)), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/server.md"))
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    payloads = bodies(args.requests, args.batch)
    results: list[tuple[str, dict[str, float]]] = []
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"peekr-bench-{uuid.uuid4().hex[:6]}"
    tmp.mkdir(parents=True)
    backends: list[tuple[str, str]] = [("SQLite", str(tmp / "collector.db"))]
    pg = pg_database()
    if pg:
        backends.append(("PostgreSQL", pg[0]))
    else:
        print('PEEKR_TEST_POSTGRES_DSN not set: PostgreSQL skipped (eval "$(scripts/deps/postgres.sh)")')
    exporter_result: dict[str, float] | None = None
    for label, db in backends:
        key = create_key(db, "bench")[1]
        server = Server(db)
        try:
            figures = asyncio.run(load(server.url, key, payloads, args.concurrency))
            figures.update(asyncio.run(query_latency(server.url, create_key(db, "bench", "read")[1])))
            results.append((label, figures))
            print(label, {k: round(v, 1) for k, v in figures.items()})
            if label == "SQLite":
                exporter_result = asyncio.run(exporter_throughput(server.url, key, 40, args.batch))
                print("exporter", {k: round(v, 1) for k, v in exporter_result.items()})
        finally:
            server.stop()

    lines = [
        "# Collector and exporter benchmark",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_server.py --requests {args.requests} --batch {args.batch} "
        f'--concurrency {args.concurrency}` (PostgreSQL via `eval "$(scripts/deps/postgres.sh)"`).',
        "",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}. "
        "Collector: one `peekr server` process (uvicorn, 1 worker) on the same machine as the load generator; "
        f"PostgreSQL 15 local, fsync off (test cluster). Load average when the run started: {load_before:.1f} "
        "(the machine is shared; figures on an idle machine are higher).",
        "",
        f"Ingest: {args.requests} requests of {args.batch} spans (~1 KB each, gzipped wire format v1), "
        f"{args.concurrency} concurrent connections, every span a new insert.",
        "",
        "| Storage | Ingest spans/s | Requests/s | p50 request ms | p99 request ms "
        "| `GET /v1/traces` ms | `GET /v1/stats/aggregates` ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, f in results:
        lines.append(
            f"| {label} | {f['spans_per_s']:,.0f} | {f['requests_per_s']:,.1f} | {f['p50_ms']:,.1f} | {f['p99_ms']:,.1f} "
            f"| {f['traces_ms']:,.1f} | {f['aggregates_ms']:,.1f} |"
        )
    lines += [
        "",
        f"Queries (after the ingest run, so over {args.requests * args.batch:,} spans of one tenant, median of 5): "
        "first page of `/v1/traces` (50 traces), and `/v1/stats/aggregates?group_by=model&interval=hour` over "
        "the 24 h window holding every span.",
    ]
    if exporter_result:
        lines += [
            "",
            f"Exporter: `HTTPExporter.write` of 40 batches of {args.batch} spans, sequentially, to the SQLite collector "
            f"(encode + gzip + POST + wait for the answer): **{exporter_result['spans_per_s']:,.0f} spans/s**; "
            f"its own share (wire encoding + gzip, no network): {exporter_result['encode_spans_per_s']:,.0f} spans/s "
            "on the bus thread.",
        ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
