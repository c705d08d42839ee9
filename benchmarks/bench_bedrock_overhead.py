"""Bedrock's share of ``bench_overhead.py``: what peekr and the peers add per call and per stream chunk.

Run: ``.venv/bin/python benchmarks/bench_bedrock_overhead.py [--quick] [bench_overhead options]``

A thin entry point (one harness for every provider): ``bench_overhead.py --providers bedrock``, writing
its report to ``benchmarks/results/overhead_bedrock.md`` unless ``--output`` or ``--no-write`` says otherwise.
"""

from __future__ import annotations

import sys

import bench_overhead

if __name__ == "__main__":
    bench_overhead.main(
        [
            "--providers",
            "bedrock",
            "--output",
            str(bench_overhead.RESULTS.with_name("overhead_bedrock.md")),
            *sys.argv[1:],
        ]
    )
