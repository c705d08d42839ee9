"""Marginal cost per stream chunk as instruction counts (load-independent), by the slope over two stream lengths.

``bench_overhead.py`` gives added CPU per chunk as (added per stream − added per call) / chunks, which on a
shared 2-core machine swings by several µs between runs. Counting instructions under callgrind does not
depend on load: this script runs ``N`` fully consumed streams of a given length through the real SDK on the
in-process fake provider (``benchmarks/_overhead_providers.py``), with peekr (SQLite storage, flushed) or
without. Running it for two lengths and both variants gives the slope::

    per chunk = [(peekr, long) − (peekr, short) − (none, long) + (none, short)] / (N × (long − short))

    for v in none peekr; do for w in 9 99; do
      valgrind --tool=callgrind --separate-threads=no --callgrind-out-file=/tmp/cg.$v.$w.out \\
        .venv/bin/python benchmarks/bench_stream_instructions.py openai_chat $v $w 60 2>&1 | grep Collected
    done; done

Every thread is counted (the caller, peekr's bus thread and SQLite writer). The fake echoes the prompt, so a
longer stream also has a longer prompt and output: the slope includes peekr's per-byte work on both
(capture, scrubbing, encoding, storage), not only the per-chunk callback. ``PEEKR_BENCH_NO_USAGE=1`` turns
off the OpenAI stream-usage request (``peekr.integrations.openai.inject_stream_usage``) to separate its cost:
once usage is asked for, every chunk carries ``"usage": null``, which the SDK parses. Convert with
~12,000 instructions per µs on the benchmark machine (``bench_call_instructions.py``: 191k ≈ 15.5 µs).
Providers: openai_chat, openai_responses, anthropic, gemini, bedrock.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _overhead_providers as providers


def main() -> None:
    name, variant, words, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if variant not in ("none", "peekr"):
        raise SystemExit("variant: none or peekr")
    providers.PROMPT = " ".join(f"word{i}" for i in range(1, words + 1))
    providers.EXPECTED_TAIL = f"word{words}"
    import peekr
    import peekr.integrations.openai as openai_integration

    if os.environ.get("PEEKR_BENCH_NO_USAGE"):
        openai_integration.inject_stream_usage = False
    provider = getattr(providers, name)()
    with tempfile.TemporaryDirectory() as tmp:
        if variant == "peekr":
            peekr.instrument(storage="sqlite", path=str(Path(tmp) / "traces.db"))
        provider.rebuild()
        stream = provider.scenarios["stream"]
        for _ in range(20):  # warm-up: imports, caches, the price table
            stream()
        if variant == "peekr":
            peekr.flush()
        for _ in range(count):
            stream()
        if variant == "peekr":
            peekr.flush()
            peekr.uninstrument()


if __name__ == "__main__":
    main()
