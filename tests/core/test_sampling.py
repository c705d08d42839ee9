"""Trace sampling: whole traces kept or dropped, errors kept, exact counts, orphans, bad options."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import peekr
from peekr._config import Settings
from peekr._runtime import Runtime
from peekr._sampling import SamplingConfig, ratio_keeps
from peekr._span import Span
from peekr._tracer import start_span
from peekr.sinks.memory import InMemorySink

RATE = 0.1
THREADS, PER_THREAD = 4, 1_000
TASKS = 3_000  # per async backend: 4,000 + 3,000 + 3,000 = 10,000 traces


def _one_trace(i: int, seen: list[tuple[str, bool]]) -> None:
    """A root span with two provider-like children; every 20th trace has an error in a child."""
    failing = i % 20 == 0
    with peekr.span("root", n=i) as root:
        with peekr.span("child.llm", provider="fake"):
            pass
        try:
            with peekr.span("child.tool", provider="fake"):
                if failing:
                    raise ValueError("tool failed")
        except ValueError:
            pass
    seen.append((root.trace_id, failing))


async def _async_trace(i: int, seen: list[tuple[str, bool]]) -> None:
    failing = i % 20 == 0
    async with peekr.span("root", n=i) as root:
        async with peekr.span("child.llm", provider="fake"):
            await anyio.lowlevel.checkpoint()
        try:
            async with peekr.span("child.tool", provider="fake"):
                await anyio.lowlevel.checkpoint()
                if failing:
                    raise ValueError("tool failed")
        except ValueError:
            pass
    seen.append((root.trace_id, failing))


def _run_10k(seen: list[tuple[str, bool]]) -> None:
    def worker(t: int) -> None:
        for i in range(PER_THREAD):
            _one_trace(t * PER_THREAD + i, seen)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    async def tasks() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(TASKS):
                tg.start_soon(_async_trace, i, seen)

    anyio.run(tasks, backend="asyncio")
    anyio.run(tasks, backend="trio")


@pytest.mark.parametrize("keep_errors", [True, False])
def test_10k_traces_are_kept_or_dropped_whole_with_exact_counts(keep_errors: bool) -> None:
    sink = InMemorySink()
    evaluated: list[str] = []
    lock = threading.Lock()

    def saw(span: Span) -> None:
        with lock:
            evaluated.append(span.span_id)

    saw.max_backlog = 100_000  # type: ignore[attr-defined]
    peekr.instrument(
        storage="none",
        sinks=[sink],
        evaluators=[saw],
        sample_rate=RATE,
        keep_errors=keep_errors,
        queue_size=200_000,
    )
    seen: list[tuple[str, bool]] = []
    _run_10k(seen)
    assert peekr.flush(30)
    stats = peekr.stats()
    peekr.shutdown(30)

    assert len(seen) == 10_000
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in sink.spans:
        by_trace[span.trace_id].append(span)
    # Whole: every trace that reached the sink has all three of its spans.
    assert all(len(spans) == 3 for spans in by_trace.values()), "a partial trace was recorded"
    expected = {tid for tid, failing in seen if ratio_keeps(tid, RATE) or (keep_errors and failing)}
    assert set(by_trace) == expected
    if keep_errors:
        assert {tid for tid, failing in seen if failing} <= set(by_trace)  # every error kept
    # The kept fraction of error-free traces is within 4 sigma of the rate.
    plain = [tid for tid, failing in seen if not failing]
    kept = sum(1 for tid in plain if tid in by_trace) / len(plain)
    assert abs(kept - RATE) < 4 * math.sqrt(RATE * (1 - RATE) / len(plain))
    # Exact counts.
    dropped = 10_000 - len(expected)
    assert stats.sampling["traces_sampled_out"] == dropped
    assert stats.sampling["spans_sampled_out"] == 3 * dropped
    rescued = sum(1 for tid, failing in seen if failing and keep_errors and not ratio_keeps(tid, RATE))
    assert stats.sampling["traces_kept_for_errors"] == rescued
    assert stats.sampling["spans_held"] == 0 and stats.sampling["orphaned"] == 0
    assert stats.dropped_total == 0
    # Evaluators saw exactly the kept provider spans.
    kept_provider_spans = {s.span_id for spans in by_trace.values() for s in spans if s.name.startswith("child")}
    assert set(evaluated) == kept_provider_spans


def test_decision_matches_opentelemetry_trace_id_ratio_rule() -> None:
    # TraceIdRatioBased: low 64 bits < round(rate * 2**64).
    assert ratio_keeps("ffffffffffffffff" + "0" * 16, 0.1)
    assert not ratio_keeps("0" * 16 + "ffffffffffffffff", 0.1)
    bound = round(0.25 * 2**64)
    assert ratio_keeps("0" * 16 + f"{bound - 1:016x}", 0.25)
    assert not ratio_keeps("0" * 16 + f"{bound:016x}", 0.25)
    assert ratio_keeps("0" * 16 + "f" * 16, 1.0) and not ratio_keeps("0" * 31 + "1", 0.0)


def test_dropped_trace_records_nothing_and_children_follow_the_root() -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], sample_rate=0.0, keep_errors=False)
    with peekr.span("root") as root:
        assert not root.is_recording
        with peekr.span("child") as child:
            assert child.trace_id == root.trace_id  # the child stays in the dropped trace
    assert peekr.flush(5)
    assert sink.spans == []
    assert peekr.stats().sampling["traces_sampled_out"] == 1
    assert peekr.stats().sampling["spans_sampled_out"] == 2
    assert peekr.stats().published == 0  # never reached the bus: the cheap path


def test_tenant_rule_beats_feature_rule_beats_default_rate() -> None:
    sink = InMemorySink()
    peekr.instrument(
        storage="none",
        sinks=[sink],
        sample_rate=0.0,
        keep_errors=False,
        sample_rates={"tenant:acme": 1.0, "feature:search": 1.0, "feature:chat": 0.0},
    )
    with peekr.session(tenant_id="acme", feature="chat"):
        with peekr.span("acme-chat"):  # tenant rule (1.0) beats the feature rule (0.0)
            pass
    with peekr.session(tenant_id="other", feature="search"):
        with peekr.span("other-search"):  # no tenant rule: the feature rule
            pass
    with peekr.session(tenant_id="other", feature="chat"):
        with peekr.span("other-chat"):
            pass
    with peekr.span("plain"):  # neither: sample_rate
        pass
    assert peekr.flush(5)
    assert sorted(s.name for s in sink.spans) == ["acme-chat", "other-search"]


def _runtime(sink: InMemorySink, **config: Any) -> Runtime:
    sampling = SamplingConfig(rate=0.0, keep_errors=True, **config)
    runtime = Runtime(Settings(storage="none", flush_interval=0.05, sampling=sampling), [("memory", sink)])
    runtime.start()
    return runtime


def test_orphan_held_trace_is_decided_after_the_timeout_and_counted() -> None:
    sink = InMemorySink()
    runtime = _runtime(sink, hold_timeout=0.3)
    try:
        root = start_span("root", runtime=runtime)  # never ends: its trace cannot finish
        assert root is not None
        child = start_span("child", trace_id=root.trace_id, parent_id=root.span_id, runtime=runtime)
        assert child is not None
        child.end(error=RuntimeError("boom"))
        quiet_root = start_span("quiet", runtime=runtime)
        assert quiet_root is not None
        quiet = start_span("quiet.child", trace_id=quiet_root.trace_id, parent_id=quiet_root.span_id, runtime=runtime)
        assert quiet is not None
        quiet.end()
        assert runtime.flush(5)
        assert runtime.stats().sampling["spans_held"] == 2 and sink.spans == []
        deadline = time.monotonic() + 5
        while runtime.stats().sampling["orphaned"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runtime.flush(5)
        # The orphan with an error is kept (what it had), the quiet one dropped; both counted.
        assert [s.name for s in sink.spans] == ["child"]
        stats = runtime.stats().sampling
        assert stats["orphaned"] == 2 and stats["spans_held"] == 0
        assert stats["traces_kept_for_errors"] == 1 and stats["traces_sampled_out"] == 1
    finally:
        runtime.shutdown(5)


def test_held_buffer_overflow_decides_the_oldest_trace_early_and_counts_it() -> None:
    sink = InMemorySink()
    runtime = _runtime(sink, max_held_spans=3)
    try:
        roots = [start_span(f"root{i}", runtime=runtime) for i in range(4)]
        for root in roots:
            assert root is not None
            child = start_span("child", trace_id=root.trace_id, parent_id=root.span_id, runtime=runtime)
            assert child is not None
            child.end()
        assert runtime.flush(5)
        stats = runtime.stats().sampling
        assert stats["overflow"] == 1 and stats["spans_held"] == 3
    finally:
        runtime.shutdown(5)
    # At shutdown what was still held is decided (dropped: no errors) and counted as orphaned.
    final = runtime.stats().sampling
    assert final["spans_held"] == 0 and final["orphaned"] == 3 and sink.spans == []


def test_a_late_span_of_a_decided_trace_follows_the_decision() -> None:
    sink = InMemorySink()
    runtime = _runtime(sink)
    try:
        root = start_span("root", runtime=runtime)
        assert root is not None
        root.end()  # the trace is complete here: decided (dropped, no error)
        late = start_span("late", trace_id=root.trace_id, parent_id=root.span_id, runtime=runtime)
        assert late is not None
        late.end()
        assert runtime.flush(5)
        assert sink.spans == []
        assert runtime.stats().sampling["spans_sampled_out"] == 2
    finally:
        runtime.shutdown(5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"sample_rate": 1.5}, ValueError, "from 0.0 to 1.0"),
        ({"sample_rate": "0.1"}, ValueError, "must be a number"),
        ({"sample_rate": float("nan")}, ValueError, "must be a number"),
        ({"keep_errors": "yes"}, TypeError, "keep_errors"),
        ({"sample_rates": [("tenant:a", 1.0)]}, TypeError, "expects a dict"),
        ({"sample_rates": {"acme": 1.0}}, ValueError, '"tenant:<tenant_id>" or "feature:<feature>"'),
        ({"sample_rates": {"user:u1": 1.0}}, ValueError, '"tenant:<tenant_id>"'),
        ({"sample_rates": {"tenant:": 1.0}}, ValueError, '"tenant:<tenant_id>"'),
        ({"sample_rates": {"tenant:a": -0.1}}, ValueError, "sample_rates['tenant:a']"),
    ],
)
def test_bad_sampling_options_raise_clear_errors(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        peekr.instrument(storage="none", **kwargs)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_samples_even_if_the_sampler_lock_was_held_at_the_fork(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    script = textwrap.dedent(
        f"""
        import os, peekr
        from peekr._runtime import get_runtime
        peekr.instrument(storage="jsonl", path={str(path)!r}, sample_rate=0.0, keep_errors=True)
        lock = get_runtime().sampler._lock
        lock.acquire()  # as if another thread were counting open spans at the moment of the fork
        pid = os.fork()
        if pid == 0:
            try:
                with peekr.span("child-error"):
                    raise ValueError("kept: an error")
            except ValueError:
                pass
            os._exit(0 if peekr.shutdown() else 3)
        lock.release()
        _, status = os.waitpid(pid, 0)
        peekr.shutdown()
        raise SystemExit(os.waitstatus_to_exitcode(status))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["name"] for line in path.read_text().splitlines()] == ["child-error"]
