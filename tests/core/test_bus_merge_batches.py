"""``merge_batches_up_to``: under load, a sink that asks for it gets the batches waiting for it as one write."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import anyio.to_thread

import peekr
from peekr._events import Event
from peekr._runtime import get_runtime
from peekr.sinks import InMemorySink


class _GatedSink:
    """Records each write's size; the first write waits until the test opens the gate."""

    name = "gated"
    merge_batches_up_to = 35

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.span_names: list[str] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.flushes_after: list[int] = []

    async def write(self, batch: Sequence[Event]) -> None:
        if not self.sizes:
            self.entered.set()
            await anyio.to_thread.run_sync(self.gate.wait, 10.0)
        self.sizes.append(len(batch))
        self.span_names += [getattr(event, "name", "") for event in batch]

    async def flush(self, timeout: float | None = None) -> None:
        self.flushes_after.append(sum(self.sizes))

    async def aclose(self) -> None:
        pass


def _publish(first: int, count: int) -> None:
    for i in range(first, first + count):
        with peekr.span(f"s{i}"):
            pass


def _wait_drained() -> None:
    runtime = get_runtime()
    assert runtime is not None
    deadline = time.monotonic() + 10
    while runtime.bus.stats().queued and time.monotonic() < deadline:
        time.sleep(0.01)


def test_batches_waiting_behind_a_slow_write_reach_the_sink_as_one_write_up_to_its_limit() -> None:
    gated, memory = _GatedSink(), InMemorySink()
    # No timed wake-up: the bus drains when 10 spans are queued, so each batch is exactly 10 however
    # slowly the spans are published (a tick in the middle of a group would split it).
    peekr.instrument(storage="none", sinks=[gated, memory], batch_size=10, flush_interval=30)
    _publish(0, 10)
    assert gated.entered.wait(10)  # the first batch is being written
    for first in range(10, 70, 10):  # six batches of 10 wait in the sink's stream meanwhile
        _publish(first, 10)
        _wait_drained()
    gated.gate.set()
    assert peekr.flush(timeout=10)
    assert gated.sizes == [10, 40, 20]  # 10, then 10+10+10+10 (≥ 35), then the rest
    assert gated.span_names == [f"s{i}" for i in range(70)]  # publish order kept
    assert len(memory.spans) == 70  # the other subscriber's batches were not extended
    stats = peekr.stats()
    assert stats.delivered == {"gated": 70, "memory": 70}
    assert stats.dropped_total == 0
    assert peekr.shutdown(timeout=10)


def test_a_flush_waiting_among_the_batches_still_follows_the_events_before_it() -> None:
    gated = _GatedSink()
    peekr.instrument(storage="none", sinks=[gated], batch_size=10, flush_interval=0.05)
    _publish(0, 10)
    assert gated.entered.wait(10)
    _publish(10, 20)
    _wait_drained()
    flushed: list[bool] = []
    flusher = threading.Thread(target=lambda: flushed.append(peekr.flush(timeout=10)))
    flusher.start()  # its marker waits behind the two batches
    time.sleep(0.2)
    _publish(30, 10)
    _wait_drained()
    gated.gate.set()
    flusher.join(10)
    assert flushed == [True]
    assert peekr.flush(timeout=10)
    assert gated.sizes[:2] == [10, 20]  # the merge stopped at the flush marker
    assert gated.flushes_after[0] == 30  # the first flush came after the 30 events published before it
    assert sum(gated.sizes) == 40
    assert peekr.shutdown(timeout=10)
