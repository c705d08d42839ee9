"""Benchmark the web UI over ``peekr ui`` on a generated traces.db: API times and first render in Chromium.

Usage::

    .venv/bin/python benchmarks/bench_ui.py --spans 200000 --db /tmp/bench-ui.db

The DB comes from ``bench_cli.generate`` (real schema, realistic spans). ``peekr ui`` runs in a
subprocess; each endpoint the pages use is timed over HTTP (wall time as a client sees it), and
Chromium (headless, DevTools pipe) measures navigation start -> first trace rows on screen.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "_helpers"))

from _browser import Browser, find_chromium  # noqa: E402
from bench_cli import generate  # noqa: E402


def timed(client: httpx.Client, path: str, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/bench-ui.db"))
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not args.db.exists():
        t = time.perf_counter()
        generate(args.db, args.spans)
        print(f"generated {args.spans:,} spans in {time.perf_counter() - t:.0f} s", flush=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "peekr.cli", "ui", str(args.db), "--no-browser"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline())
        assert match, "peekr ui did not start"
        url = match.group(0)
        with httpx.Client(base_url=url, timeout=120) as client:
            first = client.get("/v1/traces", params={"limit": 50}).json()["traces"]
            trace = first[0]["trace_id"]
            cursor = client.get("/v1/traces", params={"limit": 50}).json()["next_cursor"]
            rows = [
                ("traces list, first page (limit 50)", "/v1/traces?limit=50"),
                ("traces list, second page", f"/v1/traces?limit=50&cursor={cursor}"),
                ("traces list, model filter", "/v1/traces?limit=50&model=gpt-4o-mini"),
                ("one trace (waterfall)", f"/v1/traces/{trace}"),
                ("trends: aggregates 24 h by model, hourly", "/v1/stats/aggregates?group_by=model&interval=hour"),
                ("quality: score histogram, 24 h", "/v1/stats/scores"),
                ("worst: latency, 24 h", "/v1/stats/worst?metric=latency"),
            ]
            print(f"| request ({args.spans:,} spans, peekr ui) | p50 ms | p95 ms |\n| --- | --- | --- |")
            for label, path in rows:
                p50, p95 = timed(client, path, args.runs)
                print(f"| {label} | {p50:.1f} | {p95:.1f} |", flush=True)
        chromium = find_chromium()
        if chromium:
            b = Browser(chromium)
            try:
                renders = []
                for _ in range(5):
                    b.goto(url + "/")
                    ms = b.evaluate(
                        "new Promise(r => { const f = () => document.querySelector('#trace-rows tr[data-trace-id]')"
                        " ? r(performance.now()) : requestAnimationFrame(f); f(); })"
                    )
                    renders.append(ms)
                print(f"\nfirst render of the traces list in Chromium: median {statistics.median(renders):.0f} ms, "
                      f"max {max(renders):.0f} ms (navigation start -> first rows, 5 loads)")  # fmt: skip
            finally:
                b.proc.kill()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
