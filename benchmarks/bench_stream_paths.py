"""Peekr's copy of an SDK's stream loop against the traced iterator around the SDK's own loop, per stream.

OpenAI (chat and Responses) and Anthropic streams run Peekr's per-chunk step inside a copy of the SDK's stream loop
(``peekr/integrations/openai/_chat_loop.py``, ``peekr/integrations/anthropic/_loop.py``); an SDK release whose loop
Peekr does not know gets ``traced_iterator`` around the SDK's loop instead. This compares the two paths of the same
code in the same process, so the process layout, which moves single callgrind figures by hundreds of thousands of
instructions per stream (``results/stream_instructions.md``), is the same for both:

- default: a census of one stream on the caller's thread (deterministic, no valgrind): Python steps (calls and
  generator resumptions), builtin calls (``sys.setprofile``) and bytecodes executed (``sys.settrace`` with
  ``f_trace_opcodes``), for the uninstrumented SDK, the traced iterator and the loop copy;
- ``--callgrind --layouts N``: instructions per stream, every thread, at N process layouts. At each layout four
  runs of ``bench_stream_instructions.py``'s single-run mode (4 and 24 streams, each path; the path is chosen by
  this script's ``--child`` wrapper, which imports the same modules in both), the slope per stream, and the
  difference; then the median and range over the layouts.

Usage::

    .venv/bin/python benchmarks/bench_stream_paths.py                       # census, every provider, ~10 s
    .venv/bin/python benchmarks/bench_stream_paths.py --callgrind --layouts 6 --providers anthropic   # ~15 min
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: provider (``bench_stream_instructions.py``'s name) -> (``_overhead_providers`` name, the module with the loop copy)
PATHS = {
    "openai_chat": ("openai-chat", "peekr.integrations.openai._chat_loop"),
    "openai_responses": ("openai-responses", "peekr.integrations.openai._chat_loop"),
    "anthropic": ("anthropic", "peekr.integrations.anthropic._loop"),
}
STREAMS = (4, 24)


def _use(module: Any, known: dict[str, Any], copy: bool) -> None:
    """The loop copy (the SDK's loop as ``module`` knows it) or, as for an unknown loop, the traced iterator."""
    module._sdk = known if copy else {}


def census(name: str, repeats: int = 5) -> dict[str, dict[str, float]]:
    """Steps, builtin calls and bytecodes per stream, uninstrumented / traced iterator / loop copy."""
    sys.path.insert(0, str(HERE))
    import _overhead_providers as providers
    from bench_overhead import _Variant

    provider = providers.PROVIDERS[PATHS[name][0]]()
    module: Any = importlib.import_module(PATHS[name][1])
    provider.save("off")
    variant = _Variant("peekr", provider, Path(tempfile.mkdtemp(prefix="peekr-bench-paths-")))
    provider.rebuild()
    provider.save("on")
    stream = provider.scenarios["stream"]
    known = module._loop_known()
    if not known:
        raise SystemExit(f"{name}: the installed SDK's stream loop is not the one Peekr copies")

    def count() -> dict[str, float]:
        for _ in range(3):
            stream()
        variant.flush()
        found = {"steps": 0, "builtin calls": 0, "bytecodes": 0, "items": 0}

        def profile(frame: Any, event: str, arg: Any) -> None:
            if event == "call":
                found["steps"] += 1
            elif event == "c_call":
                found["builtin calls"] += 1

        def trace(frame: Any, event: str, arg: Any) -> Any:
            frame.f_trace_opcodes = True
            if event == "opcode":
                found["bytecodes"] += 1
            return trace

        sys.setprofile(profile)
        for _ in range(repeats):
            found["items"] += stream()
        sys.setprofile(None)
        sys.settrace(trace)
        for _ in range(repeats):
            stream()
        sys.settrace(None)
        variant.flush()
        return {key: value / repeats for key, value in found.items()}

    result = {}
    for label, copy in (("loop copy", True), ("traced iterator", False)):
        _use(module, known, copy)
        result[label] = count()
    variant.off()
    provider.load("off")
    result["uninstrumented"] = count()
    _use(module, known, True)
    return result


def child(path: str, args: list[str]) -> None:
    """``bench_stream_instructions.py``'s single run with the stream path chosen (``copy`` or ``traced``)."""
    sys.path.insert(0, str(HERE))
    name = args[0]
    module: Any = importlib.import_module(PATHS[name][1])  # imported on both paths: the same layout
    if path == "traced":
        module._sdk = {}
    import runpy

    sys.argv = [str(HERE / "bench_stream_instructions.py"), *args]
    runpy.run_path(sys.argv[0], run_name="__main__")


def _callgrind(name: str, path: str, streams: int, layout: int, out: Path) -> int:
    """Total instructions of one run (every thread)."""
    args = [name, "peekr", "49", str(streams), "--warmup", "4", "--scenario", "stream", "--flush-interval", "3600"]
    args += ["--layout", str(layout)] if layout else []
    command = ["valgrind", "--tool=callgrind", "--separate-threads=no", f"--callgrind-out-file={out}"]
    command += [sys.executable, __file__, "--child", path, *args]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{name} {path} {streams} streams, layout {layout} failed:\n{done.stderr[-3000:]}")
    for line in out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {out}")


def callgrind(names: list[str], layouts: int, keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    print(f"{len(names) * layouts * 4} valgrind runs, two at a time; load {os.getloadavg()[0]:.1f}", flush=True)
    print("\n| provider | layout | loop copy, per stream | traced iterator, per stream | copy − traced |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:
        differences = []
        for layout in range(layouts):
            jobs = [(path, n) for path in ("copy", "traced") for n in STREAMS]

            def run(job: tuple[str, int], name: str = name, layout: int = layout) -> int:
                return _callgrind(name, job[0], job[1], layout, keep / f"cg.{name}.{job[0]}.{job[1]}.L{layout}.out")

            with ThreadPoolExecutor(2) as pool:
                totals = dict(zip(jobs, pool.map(run, jobs), strict=True))
            per = {
                path: (totals[(path, STREAMS[1])] - totals[(path, STREAMS[0])]) / (STREAMS[1] - STREAMS[0])
                for path in ("copy", "traced")
            }
            differences.append(per["copy"] - per["traced"])
            print(
                f"| {name} | {layout} | {per['copy']:,.0f} | {per['traced']:,.0f} | {differences[-1]:+,.0f} |",
                flush=True,
            )
        print(
            f"| {name} | **median of {layouts}** | | | **{statistics.median(differences):+,.0f}** "
            f"({min(differences):+,.0f} to {max(differences):+,.0f}) |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--providers", default=",".join(PATHS), help="comma-separated subset of " + ", ".join(PATHS))
    parser.add_argument("--callgrind", action="store_true", help="instructions per stream under callgrind, per layout")
    parser.add_argument("--layouts", type=int, default=3, help="--callgrind: process layouts (default 3)")
    parser.add_argument("--keep", type=Path, help="--callgrind: keep the callgrind files in this directory")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--census-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1:])
        return
    if args.census_child:  # one provider per process: peekr instruments one provider set per process here
        print(json.dumps(census(args.census_child)))
        return
    names = args.providers.split(",")
    unknown = sorted(set(names) - set(PATHS))
    if unknown:
        parser.error(f"unknown providers {unknown}; expected some of {', '.join(PATHS)}")
    if args.layouts < 1:
        parser.error("--layouts must be at least 1")
    if args.callgrind:
        callgrind(names, args.layouts, args.keep or Path(tempfile.mkdtemp(prefix="peekr-cg-paths-")))
        return
    print(
        "| provider | path | items | Python steps | builtin calls | bytecodes | Peekr adds: steps / builtin calls / bytecodes |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for name in names:
        done = subprocess.run(
            [sys.executable, __file__, "--census-child", name], capture_output=True, text=True, cwd=ROOT
        )
        if done.returncode != 0:
            raise SystemExit(f"{name}: the census failed:\n{done.stderr[-3000:]}")
        found = json.loads(done.stdout.strip().splitlines()[-1])
        base = found["uninstrumented"]
        for label, row in found.items():
            added = (
                ""
                if label == "uninstrumented"
                else " / ".join(f"{row[key] - base[key]:+,.0f}" for key in ("steps", "builtin calls", "bytecodes"))
            )
            print(
                f"| {name} | {label} | {row['items']:.0f} | {row['steps']:,.0f} | {row['builtin calls']:,.0f} "
                f"| {row['bytecodes']:,.0f} | {added} |"
            )


if __name__ == "__main__":
    main()
