"""``instrument(console=...)``: a line per finished span on stderr, rate-limited, from the bus thread."""

from __future__ import annotations

import io
import re
import sys
import threading
import time
from typing import Any

import anyio
import pytest

import peekr
from peekr._console import ConsoleSink
from peekr._events import EvalResult
from peekr._runtime import get_runtime
from peekr._span import iso_utc
from peekr._tracer import start_span
from peekr.sinks.memory import InMemorySink

_MORE = re.compile(r"^… (\d+) more spans$")


class RecordingStderr(io.StringIO):
    """Stands in for ``sys.stderr``: keeps the text and which threads wrote it; can be made to hang."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.gate = threading.Event()
        self.gate.set()

    def write(self, text: str) -> int:
        self.threads.add(threading.get_ident())
        self.gate.wait(30)
        return super().write(text)

    def lines(self) -> list[str]:
        return [line for line in self.getvalue().splitlines() if line.strip()]


@pytest.fixture
def stderr() -> RecordingStderr:
    """Install it in the test body: pytest's capture sets ``sys.stderr`` again between setup and call."""
    return RecordingStderr()


def _install(fake: RecordingStderr) -> None:
    mp = pytest.MonkeyPatch()
    mp.setattr(sys, "stderr", fake)
    _undo.append(mp)


_undo: list[pytest.MonkeyPatch] = []


@pytest.fixture(autouse=True)
def _restore_stderr() -> Any:
    yield
    while _undo:
        _undo.pop().undo()


def _count(lines: list[str]) -> tuple[int, int]:
    """(span lines, spans announced as suppressed)."""
    suppressed = sum(int(m.group(1)) for line in lines if (m := _MORE.match(line)))
    shown = sum(1 for line in lines if " ✓ " in line or " ✗ " in line)
    return shown, suppressed


def test_burst_of_20000_spans_is_rate_limited_and_counted_exactly(stderr: RecordingStderr) -> None:
    _install(stderr)
    memory = InMemorySink()
    start = time.monotonic()  # before the console's token bucket exists
    peekr.instrument(storage="none", sinks=[memory], console=True, providers=[], queue_size=50_000)
    for i in range(20_000):
        span = start_span(f"job-{i}")
        assert span is not None
        span.end()
    assert peekr.flush(30)
    elapsed = time.monotonic() - start
    stats = peekr.stats()
    shown, suppressed = _count(stderr.lines())
    assert shown + suppressed == 20_000  # every span is either a line or in a "… N more spans" line
    assert stats.dropped[("console", "rate_limited")] == suppressed
    assert stats.delivered["console"] == shown
    assert shown <= 30 + 10 * elapsed + 1  # the bucket: a burst of 30, then 10 lines a second
    assert len(memory.spans) == 20_000  # the other sinks got everything
    assert threading.get_ident() not in stderr.threads  # never printed on the caller's thread


def test_a_hanging_terminal_never_blocks_the_caller_or_the_other_sinks(stderr: RecordingStderr) -> None:
    _install(stderr)
    stderr.gate.clear()  # every write to stderr now hangs (a terminal scrolled back, a full pipe)
    memory = InMemorySink()
    peekr.instrument(storage="none", sinks=[memory], console="all", providers=[], queue_size=5_000)
    try:
        started = time.monotonic()
        for chunk in range(1, 11):
            for i in range(2_000):
                span = start_span(f"job-{i}")
                assert span is not None
                span.end()
            deadline = time.monotonic() + 5
            while len(memory.events) < chunk * 2_000 and time.monotonic() < deadline:
                time.sleep(0.01)  # let the bus hand this chunk over before the next one
        assert time.monotonic() - started < 25  # the caller was never held up by the hanging console
        deadline = time.monotonic() + 10
        while len(memory.events) < 20_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(memory.events) == 20_000, peekr.stats()  # the other sink got everything
        assert peekr.stats().dropped.get(("console", "queue_full"), 0) > 0  # what the console could not take
    finally:
        stderr.gate.set()


def test_roots_mode_prints_roots_with_model_tokens_cost_status_and_later_eval_scores(stderr: RecordingStderr) -> None:
    _install(stderr)
    peekr.instrument(storage="none", console=True, providers=[])
    with peekr.span("handle_chat"):
        llm = start_span("openai.chat.completions", {"provider": "openai", "model": "gpt-4o", "tokens_input": 40,
                                                     "tokens_output": 12, "tokens_total": 52})  # fmt: skip
        assert llm is not None
        llm.end()
    failing = start_span("anthropic.messages", {"model": "claude-x", "tokens_total": 7, "cost_usd": 0.00042})
    assert failing is not None
    failing.end(error=RuntimeError("overloaded"))
    assert peekr.flush(10)
    lines = stderr.lines()
    assert len(lines) == 2, lines  # the child LLM span is not a root
    assert " ✓ handle_chat  gpt-4o  52 tok  $0.000" in lines[0]  # the root's line sums its LLM calls
    assert "✗ anthropic.messages  claude-x  7 tok  $0.000420" in lines[1] and "RuntimeError: overloaded" in lines[1]
    runtime = get_runtime()
    assert runtime is not None
    root_id = failing.span_id
    runtime.publish(EvalResult(span_id=root_id, trace_id=failing.trace_id, evaluator="hallucination",
                               scores={"hallucination": 0.25}, created_at=iso_utc(time.time_ns())))  # fmt: skip
    assert peekr.flush(10)
    assert stderr.lines()[2] == "  ↳ hallucination: hallucination=0.25  (anthropic.messages)"


def test_all_mode_prints_every_span(stderr: RecordingStderr) -> None:
    _install(stderr)
    peekr.instrument(storage="none", console="all", providers=[])
    with peekr.span("outer"), peekr.span("inner"):
        pass
    assert peekr.flush(10)
    assert [line.split()[2] for line in stderr.lines()] == ["inner", "outer"]


@pytest.mark.anyio
async def test_async_app_spans_print_from_the_bus_thread(stderr: RecordingStderr) -> None:
    _install(stderr)
    peekr.instrument(storage="none", console=True, providers=[])

    async def handle(i: int) -> None:
        with peekr.span(f"request-{i}"):
            with peekr.span("llm", model="gpt-4o-mini", tokens_total=10):
                await anyio.sleep(0.001)

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(handle, i)
    assert await peekr.aflush(10)
    names = sorted(line.split()[2] for line in stderr.lines())
    assert names == [f"request-{i}" for i in range(5)]
    assert threading.get_ident() not in stderr.threads


@pytest.mark.parametrize(("value", "mode"), [("1", "roots"), ("all", "all"), ("roots", "roots"), ("off", None)])
def test_peekr_console_environment_variable(monkeypatch: pytest.MonkeyPatch, value: str, mode: str | None) -> None:
    monkeypatch.setenv("PEEKR_CONSOLE", value)
    handle = peekr.instrument(storage="none", providers=[])
    consoles = [s for s in handle.sinks if isinstance(s, ConsoleSink)]
    assert [c.mode for c in consoles] == ([mode] if mode else [])


def test_bad_values(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    bad: Any = "loud"
    with pytest.raises(ValueError, match=r"instrument\(console=...\): expected True, False, 'roots' or 'all'"):
        peekr.instrument(storage="none", console=bad, providers=[])
    monkeypatch.setenv("PEEKR_CONSOLE", "loud")
    handle = peekr.instrument(storage="none", providers=[])
    assert not any(isinstance(s, ConsoleSink) for s in handle.sinks)
    assert "PEEKR_CONSOLE: expected True, False, 'roots' or 'all', got 'loud'; ignoring it" in caplog.text
