"""Where a busy FastAPI app's extra CPU goes when Peekr's threads wait for the GIL (diagnostic, issue 19).

The ``bench_fastapi.py`` endpoint (one ``AsyncOpenAI`` call to the in-process fake) is called through ASGI in one
process, ``--requests`` times after ``--skip`` warm-up requests; the loop pauses 2 ms every 200 requests, as a
server's loop waits for sockets. One fresh process per variant, switch interval and round, interleaved. Printed
per request, medians over the rounds:

- the app's thread: user and system CPU (``RUSAGE_THREAD``), and the whole process's;
- remote wake-ups: the machine's function-call interrupts (``CAL`` in ``/proc/interrupts``) during the run, which
  is how Linux wakes a thread sleeping on another CPU (other processes add a few hundred a run);
- the bus's backlog: the most events waiting in its queue (``peekr.stats().queued``, sampled every 200 requests).
  With the default 5 ms switch interval a busy app thread that releases the GIL often (here ``os.urandom`` once a
  request) keeps a waiting thread from ever asking for it, so Peekr's threads wait, the backlog grows and every
  release wakes them once more; ``--switch-interval 0.0005`` shows the same run with that wait shortened. Peekr
  never changes the switch interval itself: it is the application's setting.

``--pin`` runs every thread on CPU 0 (all of Peekr's threads then share the app's CPU).

    .venv/bin/python benchmarks/bench_fastapi_gil.py --rounds 2 --switch-interval default,0.0005
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _interrupts(name: str = "CAL") -> int:
    """The machine's count of one interrupt kind, every CPU summed (0 where /proc/interrupts is missing)."""
    try:
        for line in Path("/proc/interrupts").read_text().splitlines():
            fields = line.split()
            if fields and fields[0] == f"{name}:":
                return sum(int(f) for f in fields[1:] if f.isdigit())
    except OSError:
        pass
    return 0


async def _drive(variant: str, requests: int, skip: int) -> dict[str, float]:
    from bench_fastapi import make_app
    from bench_fastapi_instructions import Client, _scope, start_lifespan

    import peekr

    db = str(Path(tempfile.mkdtemp(prefix="peekr-bench-gil-")) / "traces.db")
    app = make_app(variant, db, peekr_options=None)
    state, stop = await start_lifespan(app)
    client = Client()

    async def run(start: int, count: int, backlog: list[int]) -> None:
        for i in range(count):
            await app(_scope(start + i, state), client.receive, client.send)
            if i % 200 == 199:
                if variant != "off":
                    backlog.append(peekr.stats().queued)
                await asyncio.sleep(0.002)

    await run(0, skip, [])
    backlog: list[int] = []
    thread0, process0, wall0 = (
        resource.getrusage(resource.RUSAGE_THREAD),
        resource.getrusage(resource.RUSAGE_SELF),
        time.perf_counter(),
    )
    await run(skip, requests, backlog)
    thread1, process1, wall1 = (
        resource.getrusage(resource.RUSAGE_THREAD),
        resource.getrusage(resource.RUSAGE_SELF),
        time.perf_counter(),
    )
    await stop()
    assert client.answered == skip + requests, client.answered

    def per_request(a: Any, b: Any, field: str) -> float:
        return float(getattr(b, field) - getattr(a, field)) / requests * 1e6

    return {
        "main_user": per_request(thread0, thread1, "ru_utime"),
        "main_sys": per_request(thread0, thread1, "ru_stime"),
        "process": per_request(process0, process1, "ru_utime") + per_request(process0, process1, "ru_stime"),
        "wall": (wall1 - wall0) / requests * 1e6,
        "backlog": float(max(backlog, default=0)),
    }


def child(variant: str, requests: int, skip: int, switch_interval: str, pin: bool) -> None:
    if pin:
        os.sched_setaffinity(0, {0})  # before any thread starts: they all inherit it
    if switch_interval != "default":
        sys.setswitchinterval(float(switch_interval))
    print(json.dumps(asyncio.run(_drive(variant, requests, skip))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="off,thread-nostore,thread")
    parser.add_argument("--switch-interval", default="default", help="comma-separated: default or seconds")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--skip", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pin", action="store_true", help="every thread on CPU 0")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "SWITCH_INTERVAL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.requests < 200 or args.skip < 0 or args.rounds < 1:
        parser.error("--requests must be at least 200, --skip at least 0 and --rounds at least 1")
    if args.child:
        child(args.child[0], args.requests, args.skip, args.child[1], args.pin)
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    intervals = [s.strip() for s in args.switch_interval.split(",") if s.strip()]
    for value in intervals:
        if value != "default":
            try:
                if float(value) <= 0:
                    raise ValueError
            except ValueError:
                parser.error(f"--switch-interval takes 'default' or positive seconds, got {value!r}")
    cells = [(v, s) for s in intervals for v in variants]
    found: dict[tuple[str, str], list[dict[str, float]]] = {cell: [] for cell in cells}
    loads = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    for r in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for variant, interval in cells[r % len(cells) :] + cells[: r % len(cells)]:
            command = [sys.executable, __file__, "--child", variant, interval]
            command += ["--requests", str(args.requests), "--skip", str(args.skip)] + (["--pin"] if args.pin else [])
            before = _interrupts()
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
            calls = _interrupts() - before
            if done.returncode != 0:
                raise SystemExit(f"{variant} (switch interval {interval}) failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result["wakeups"] = calls / (args.requests + args.skip)
            found[(variant, interval)].append(result)
            print(f"round {r + 1}/{args.rounds}: {variant}, switch interval {interval}: done", flush=True)
    print(
        f"\n{args.rounds} rounds x {args.requests} requests after {args.skip} warm-up ones"
        f"{', every thread on CPU 0' if args.pin else ''}; load per round {', '.join(f'{x:.1f}' for x in loads)}\n"
    )
    print(
        "| variant | switch interval | app's thread: user µs/request | system µs/request | process CPU µs/request "
        "| wall µs/request | remote wake-ups per request | bus backlog (most queued) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for variant, interval in cells:
        rows = found[(variant, interval)]

        def med(key: str, rows: list[dict[str, float]] = rows) -> float:
            return statistics.median(row[key] for row in rows)

        print(
            f"| {variant} | {interval} | {med('main_user'):,.1f} | {med('main_sys'):,.1f} | {med('process'):,.1f} "
            f"| {med('wall'):,.1f} | {med('wakeups'):.2f} | {med('backlog'):,.0f} |"
        )


if __name__ == "__main__":
    main()
