"""Gemini's share of ``bench_overhead.py``: what peekr and the peers add per call and per stream chunk.

Run: ``.venv/bin/python benchmarks/bench_gemini_overhead.py [--quick] [bench_overhead options]``

A thin entry point (one harness for every provider): ``bench_overhead.py --providers gemini``, writing
its report to ``benchmarks/results/overhead_gemini.md`` unless ``--output`` or ``--no-write`` says otherwise.
"""

from __future__ import annotations

import sys

import bench_overhead

if __name__ == "__main__":
    bench_overhead.main(
        [
            "--providers",
            "gemini",
            "--output",
            str(bench_overhead.RESULTS.with_name("overhead_gemini.md")),
            *sys.argv[1:],
        ]
    )
