"""Benchmark ``peekr view`` (first page) and ``peekr dashboard`` on a generated 1,000,000-span DB.

Usage::

    .venv/bin/python benchmarks/bench_cli.py                 # 1,000,000 spans, writes benchmarks/results/cli.md
    .venv/bin/python benchmarks/bench_cli.py --spans 100000 --db /tmp/bench.db --no-write

The DB is made with the real schema (``peekr.sinks._sqlite_schema``) and realistic spans: agent
traces with OpenAI / Anthropic / Gemini / Bedrock calls, inputs and outputs, tenants, features,
eval scores on a third of the LLM spans and ~2% errors. Each command runs in a subprocess; wall
time and peak RSS (``resource.getrusage(RUSAGE_CHILDREN)``) are measured per run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peekr._span import iso_utc  # noqa: E402
from peekr.sinks._sqlite_schema import apply_migrations, configure_connection  # noqa: E402

MODELS = [
    ("openai", "openai.chat.completions", "gpt-4o", 2.5, 10.0),
    ("openai", "openai.chat.completions", "gpt-4o-mini", 0.15, 0.6),
    ("anthropic", "anthropic.messages", "claude-sonnet-4-20250514", 3.0, 15.0),
    ("gemini", "gemini.generate_content", "gemini-2.5-flash", 0.3, 2.5),
    ("bedrock", "bedrock.converse", "anthropic.claude-3-haiku-20240307-v1:0", 0.25, 1.25),
]
TENANTS = ["acme", "globex", "initech", "umbrella", None]
FEATURES = ["chat", "search", "summarize", "extract"]
ENDPOINTS = ["/chat", "/search", "/summarize", "/api/v1/extract"]
VARIANTS = ["A", "B"]
QUESTIONS = [
    "What is the weather in Paris today and should I take an umbrella?",
    "Summarize the attached quarterly report in three bullet points for the board.",
    "Extract every invoice number and total from the following email thread.",
    "Which of our plans includes SSO and how much does it cost per seat?",
]


def generate(path: Path, n_spans: int, *, seed: int = 7, days: float = 14.0) -> None:
    """Write ``n_spans`` spans (in traces of 1 root + 1–4 LLM calls) into a fresh DB at ``path``."""
    rng = random.Random(seed)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    configure_connection(db)
    apply_migrations(db)
    db.execute("PRAGMA synchronous = OFF")
    now_ns = time.time_ns()
    span_ns = int(days * 86400e9 / max(n_spans, 1))
    rows: list[tuple[object, ...]] = []
    written = 0
    trace_no = 0
    t_ns = now_ns - int(days * 86400e9)
    db.execute("BEGIN")
    while written < n_spans:
        trace_no += 1
        trace_id = f"{rng.getrandbits(128) or 1:032x}"
        root_id = f"{rng.getrandbits(64) or 1:016x}"
        tenant = rng.choice(TENANTS)
        feature_i = rng.randrange(len(FEATURES))
        common = {
            "session_id": f"sess-{trace_no // 5}",
            "user_id": f"user-{rng.randrange(500)}",
            "feature": FEATURES[feature_i],
            "endpoint": ENDPOINTS[feature_i],
            "experiment_variant": rng.choice(VARIANTS),
        }
        n_calls = min(rng.randint(1, 4), n_spans - written - 1) if n_spans - written > 1 else 0
        child_t = t_ns + 5_000_000
        children = []
        for _ in range(n_calls):
            provider, name, model, p_in, p_out = rng.choice(MODELS)
            tin, tout = rng.randint(50, 4000), rng.randint(10, 800)
            dur = rng.lognormvariate(6.5, 0.6)
            error = rng.random() < 0.02
            attrs: dict[str, object] = {
                "provider": provider,
                "model": model,
                "tokens_input": tin,
                "tokens_output": 0 if error else tout,
                "tokens_total": tin + (0 if error else tout),
                "input": [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": rng.choice(QUESTIONS)},
                ],
                "request": {"temperature": 0.2, "max_tokens": 1024},
                **common,
            }
            if error:
                attrs["error"] = {"type": "openai.RateLimitError", "message": "Rate limit reached for requests"}
            else:
                attrs["cost_usd"] = round((tin * p_in + tout * p_out) / 1e6, 8)
                attrs["output"] = {
                    "role": "assistant",
                    "content": "Here is the answer you asked for. " * rng.randint(1, 6),
                }
                attrs["finish_reason"] = "stop"
                if rng.random() < 0.33:
                    attrs["eval_scores"] = {"hallucination": round(rng.betavariate(5, 1.5), 3)}
            children.append((f"{rng.getrandbits(64) or 1:016x}", name, child_t, dur, error, attrs))
            child_t += int(dur * 1e6) + 2_000_000
        root_ms = (child_t - t_ns) / 1e6 + 3
        any_error = any(c[4] for c in children)
        rows.append(
            (
                root_id,
                trace_id,
                None,
                "handle_request",
                iso_utc(t_ns),
                iso_utc(t_ns + int(root_ms * 1e6)),
                root_ms,
                "error" if any_error else "ok",
                tenant,
                "default",
                json.dumps(common),
            )
        )
        for span_id, name, start, dur, error, attrs in children:
            rows.append(
                (
                    span_id,
                    trace_id,
                    root_id,
                    name,
                    iso_utc(start),
                    iso_utc(start + int(dur * 1e6)),
                    dur,
                    "error" if error else "ok",
                    tenant,
                    "default",
                    json.dumps(attrs),
                )
            )
        written += 1 + len(children)
        t_ns += span_ns * (1 + len(children))
        if len(rows) >= 20_000:
            db.executemany("INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            rows.clear()
    if rows:
        db.executemany("INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def measure(args: list[str]) -> tuple[float, float, float]:
    """Run ``python -m peekr.cli *args``; return (wall seconds, CPU seconds, peak RSS MiB) of that child."""
    code = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter();"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL);"
        "w = time.perf_counter() - t;"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print(w, u.ru_maxrss, p.returncode, u.ru_utime + u.ru_stime)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, sys.executable, "-m", "peekr.cli", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    wall, rss_kib, rc, cpu = float(out[0]), int(out[1]), int(out[2]), float(out[3])
    if rc != 0:
        raise SystemExit(f"peekr {' '.join(args)} exited with {rc}")
    return wall, cpu, rss_kib / 1024


def open_in_chromium(report: Path) -> float | None:
    """Seconds from navigation until the report's charts are drawn, or None without chromium."""
    sys.path.insert(0, str(ROOT / "tests" / "_helpers"))
    from _browser import Browser, find_chromium

    chromium = find_chromium()
    if chromium is None:
        return None
    browser = Browser(chromium)
    try:
        t = time.perf_counter()
        browser.goto(report.as_uri())
        charts = browser.evaluate("document.body.getAttribute('data-charts')")
        elapsed = time.perf_counter() - t
        errors = browser.console_errors()
        if errors or not charts or int(charts) < 10:
            raise SystemExit(f"report did not render cleanly: charts={charts} errors={errors}")
        return elapsed
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/peekr-bench/traces.db"))
    parser.add_argument("--reuse", action="store_true", help="Reuse an existing DB with the right span count.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="Do not write benchmarks/results/cli.md.")
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)

    have = 0
    if args.reuse and args.db.exists():
        with sqlite3.connect(args.db) as db:
            have = db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    if have != args.spans:
        t = time.perf_counter()
        generate(args.db, args.spans)
        print(f"generated {args.spans:,} spans in {time.perf_counter() - t:.1f} s -> {args.db}")
    size_mb = os.path.getsize(args.db) / 1e6
    report = args.db.with_name("report.html")
    cases = [
        ("peekr view traces.db (first page, 50 spans)", ["view", str(args.db)]),
        (
            "peekr view traces.db --model gpt-4o --status error",
            ["view", str(args.db), "--model", "gpt-4o", "--status", "error"],
        ),
        ("peekr dashboard traces.db -o report.html", ["dashboard", str(args.db), "-o", str(report)]),
    ]
    results = []
    load_before = os.getloadavg()[0]
    for label, cmd in cases:
        runs = [measure(cmd) for _ in range(args.runs)]
        best_wall = min(w for w, _, _ in runs)
        median_wall = sorted(w for w, _, _ in runs)[len(runs) // 2]
        best_cpu = min(c for _, c, _ in runs)
        peak = max(r for _, _, r in runs)
        results.append((label, best_wall, median_wall, best_cpu, peak))
        print(
            f"{label}: best {best_wall:.2f} s, median {median_wall:.2f} s, CPU {best_cpu:.2f} s, peak RSS {peak:.0f} MiB"
        )
    report_kb = report.stat().st_size / 1024 if report.exists() else 0
    print(f"report.html: {report_kb:,.0f} KiB")
    open_s = open_in_chromium(report)
    if open_s is not None:
        print(f"report.html opened and all charts drawn in headless Chromium in {open_s:.2f} s")
    if args.no_write:
        return
    lines = [
        "# CLI benchmark",
        "",
        f"`{' '.join(['.venv/bin/python', 'benchmarks/bench_cli.py', *sys.argv[1:]])}` on {platform.node() or 'this machine'}"
        f" ({os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}),"
        f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"DB: {args.spans:,} spans with the real schema, {size_mb:,.0f} MB; {args.runs} runs per command,"
        " each a fresh `python -m peekr.cli` process (interpreter start-up included).",
        f"1-minute load average before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} (2 cores; above 2 means"
        " other processes were competing for the CPU and the wall times are inflated).",
        "",
        "| command | best wall | median wall | CPU (user+sys) | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[
            f"| `{label}` | {best:.2f} s | {median:.2f} s | {cpu:.2f} s | {rss:.0f} MiB |"
            for label, best, median, cpu, rss in results
        ],
        "",
        f"The dashboard file is {report_kb:,.0f} KiB (ECharts inlined, aggregates only)"
        + (f"; headless Chromium loads it and draws every chart in {open_s:.2f} s." if open_s is not None else "."),
        "",
    ]
    out = ROOT / "benchmarks" / "results" / "cli.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
