"""The event bus: O(1) hand-off from any thread, fan-out to one bounded stream per subscriber.

Producers (the user's threads, sync code, asyncio or trio) call ``publish(item)`` with an
``Inbound`` item: a length check and a ``deque.append`` — no lock, no syscall, never blocks,
never raises. The bus task wakes every ``flush_interval`` seconds, or early once ``batch_size``
items are waiting, moves the queue into batches, runs each batch through its processor stage
(``peekr._pipeline.Pipeline``: pending spans become ``Span`` records, cost, redaction) and
copies the resulting ``Event`` batch into every subscriber's bounded anyio memory object
stream with ``send_nowait``. A subscriber whose stream is full loses that batch
(counted as ``queue_full`` for that subscriber only); the others are unaffected. Each
subscriber runs in its own task, so a slow or hanging sink only fills its own buffer.

Where the bus task runs is decided in ``_loop.py`` (a daemon thread with its own event loop by
default, or the host application's loop).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import anyio
import sniffio
from anyio.abc import TaskStatus
from anyio.from_thread import BlockingPortal
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._codec import unencodable_count
from .._errors import handle_internal_errors, internal_error_count
from .._events import Event
from .._pipeline import Inbound, Pipeline
from ..sinks._base import Sink
from ._handle import BusHandle
from ._stats import BusStats, Counters

__all__ = ["EventBus"]

logger = logging.getLogger("peekr")

NEW, RUNNING, SHUTTING_DOWN, CLOSED = "new", "running", "shutting_down", "closed"


class _FlushMarker:
    """Travels behind the events in every subscriber stream; done when all sinks flushed."""

    def __init__(self, count: int, timeout: float) -> None:
        self.remaining = count
        self.timeout = timeout
        self.failed: list[str] = []
        self.done = anyio.Event()
        if count == 0:
            self.done.set()

    def finish(self, name: str, ok: bool) -> None:
        if not ok:
            self.failed.append(name)
        self.remaining -= 1
        if self.remaining <= 0:
            self.done.set()


class EventBus:
    """Fan events out to sinks. See the module docstring for the threading contract.

    A subscriber with a ``bind(handle)`` method gets its ``BusHandle`` here, before the bus starts
    (and again from the fresh bus a forked child builds).
    """

    def __init__(
        self,
        subscribers: Sequence[tuple[str, Sink]],
        *,
        queue_size: int = 20_000,
        batch_size: int = 512,
        flush_interval: float = 0.2,
        pipeline: Pipeline | None = None,
        upstream: Sequence[str] = (),
    ) -> None:
        names = [name for name, _ in subscribers]
        if len(set(names)) != len(names):
            raise ValueError(f"subscriber names must be unique, got {names}")
        self._subscribers = list(subscribers)
        self._queue: deque[Inbound] = deque()
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._interval = flush_interval
        self._wake_threshold = batch_size
        #: The processor stage every batch goes through before fan-out.
        self.pipeline = pipeline if pipeline is not None else Pipeline()
        self._counters = Counters()
        self._drained = 0
        self._sends: dict[str, MemoryObjectSendStream[list[Event] | _FlushMarker]] = {}
        self._pending: dict[str, int] = {}
        # Streams are bounded in batches; the real bound is ``queue_size`` *events* pending per
        # subscriber (checked in ``_drain``), so small batches cannot fill a stream early.
        self._sub_buffer = queue_size
        self._wake: Callable[[], object] | None = None
        self._wake_pending = False
        self._wakeup: anyio.Event | None = None
        self._stopping = False
        self._stop_timeout = 5.0
        self._stop_requested_at = 0.0
        self._finished = threading.Event()
        self._done: dict[str, anyio.Event] = {}
        self._upstream = frozenset(upstream)
        self._closed: anyio.Event | None = None
        self._portal: BlockingPortal | None = None
        self._loop_thread: int | None = None
        self._warned_after_shutdown = False
        #: True when shutdown gave up on a sink that did not finish in time.
        self.timed_out = False
        self.state = NEW
        for name, sink in self._subscribers:
            bind = getattr(sink, "bind", None)
            if callable(bind):
                try:
                    bind(BusHandle(self, name))
                except Exception as exc:
                    logger.warning("peekr: sink %r could not bind to the bus: %r", name, exc, exc_info=exc)

    # -- producer side (any thread) -------------------------------------------------------

    def publish(self, event: Inbound) -> None:
        """Hand an item to the bus. O(1), thread-safe, never blocks, never raises."""
        try:
            if self.state is not RUNNING:
                self._reject(event)
                return
            queue = self._queue
            if len(queue) >= self._queue_size:
                self._counters.drop("bus", "queue_full")
                return
            queue.append(event)
            if len(queue) >= self._wake_threshold and not self._wake_pending:
                self._wake_pending = True
                self._signal()
        except Exception:  # pragma: no cover - publish must never raise
            self._counters.drop("bus", "internal_error")

    def _reject(self, event: Inbound) -> None:
        if self.state is NEW:
            # Not started yet: keep it, the loop drains it once running.
            if len(self._queue) < self._queue_size:
                self._queue.append(event)
            else:
                self._counters.drop("bus", "queue_full")
            return
        self._counters.drop("bus", "shutdown")
        if not self._warned_after_shutdown:
            self._warned_after_shutdown = True
            logger.warning("peekr: an event was published after shutdown(); it was dropped (counted in stats())")

    def _signal(self) -> None:
        wake = self._wake
        if wake is not None:
            try:
                wake()
            except RuntimeError:  # the loop is closing
                pass

    def stats(self) -> BusStats:
        """A consistent-enough snapshot of the counters."""
        delivered, dropped = self._counters.snapshot()
        queued = len(self._queue)
        published = self._drained + queued
        return BusStats(
            state=self.state,
            published=published,
            queued=queued,
            delivered=delivered,
            dropped=dropped,
            internal_errors=internal_error_count(),
            unencodable_values=unencodable_count(),
            spooled=self._spooled(),
            sampling=self.pipeline.held.stats() if self.pipeline.held is not None else {},
        )

    def _spooled(self) -> dict[str, int]:
        spooled: dict[str, int] = {}
        for name, sink in self._subscribers:
            if getattr(sink, "has_spool", False):
                try:
                    spooled[name] = int(sink.spooled)  # type: ignore[attr-defined]
                except Exception:  # a spool directory that cannot be read right now
                    continue
        return spooled

    def backlog(self) -> int:
        """Events not yet stored by the slowest subscriber (hand-off queue included)."""
        pending = list(self._pending.values())
        return len(self._queue) + (max(pending) if pending else 0)

    def record_dropped(self, subscriber: str, reason: str, n: int = 1) -> None:
        """Count events a subscriber gave up on by itself (e.g. an exporter after retries)."""
        self._counters.drop(subscriber, reason, n)

    def record_delivered(self, subscriber: str, n: int) -> None:
        """Count events a subscriber that ``counts_own_delivery`` confirmed as stored."""
        if n > 0:
            self._counters.deliver(subscriber, n)

    # -- the bus task -----------------------------------------------------------------------

    def _install_waker(self) -> None:
        library = sniffio.current_async_library()
        if library == "trio":
            import trio

            token = trio.lowlevel.current_trio_token()
            self._wake = lambda: token.run_sync_soon(self._set_wakeup)
        else:
            loop = asyncio.get_running_loop()
            self._wake = lambda: loop.call_soon_threadsafe(self._set_wakeup)

    def _set_wakeup(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the bus until ``shutdown``/``aclose``; ``await tg.start(bus.run)`` in a host loop."""
        self._loop_thread = threading.get_ident()
        self._install_waker()
        self._wakeup = anyio.Event()
        self._closed = anyio.Event()
        try:
            async with BlockingPortal() as portal, anyio.create_task_group() as tg:
                self._portal = portal
                for name, sink in self._subscribers:
                    send, receive = anyio.create_memory_object_stream[list[Event] | _FlushMarker](self._sub_buffer)
                    self._sends[name] = send
                    self._pending[name] = 0
                    self._done[name] = anyio.Event()
                    tg.start_soon(self._run_subscriber, name, sink, receive, name=f"peekr-sink-{name}")
                self.state = RUNNING
                task_status.started()
                try:
                    await self._pump()
                finally:
                    # Phase 1: subscribers that publish back (evaluators) finish first, while
                    # the bus still accepts what they publish. Held (sampled) traces are decided now.
                    self._drain(final=True)
                    upstream = [name for name in self._sends if name in self._upstream]
                    for name in upstream:
                        self._sends.pop(name).close()  # what they publish now goes to the sinks only
                    if upstream:
                        with anyio.move_on_after(self._remaining()):
                            for name in upstream:
                                await self._done[name].wait()
                    # Phase 2: no more events; drain what is left into the sinks and close them.
                    self.state = SHUTTING_DOWN
                    self._tell_closing()
                    self._drain(final=True)
                    for send in self._sends.values():
                        send.close()
                with anyio.move_on_after(self._remaining()):
                    for event in self._done.values():
                        await event.wait()
                unfinished = [name for name, event in self._done.items() if not event.is_set()]
                if unfinished:
                    self.timed_out = True
                    for name, pending in self._pending.items():
                        self._counters.drop(name, "timeout", pending)
                        self._pending[name] = 0
                    logger.warning(
                        "peekr: shutdown timed out waiting for %s; their unsent events were counted as dropped",
                        ", ".join(unfinished),
                    )
                    tg.cancel_scope.cancel()
                await portal.stop(cancel_remaining=True)
        finally:
            leftover = len(self._queue)
            if leftover:
                self._queue.clear()
                self._counters.drop("bus", "shutdown", leftover)
            self.state = CLOSED
            self._wake = None
            self._finished.set()
            self._closed.set()

    def _remaining(self) -> float:
        return max(0.0, self._stop_timeout - (time.monotonic() - self._stop_requested_at))

    async def _pump(self) -> None:
        # A ticker task sets the wake-up event every interval, instead of a deadline scope around
        # each wait: no cancellation at all on the steady-state path (five wake-ups a second).
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._tick, name="peekr-bus-ticker")
            while not self._stopping:
                assert self._wakeup is not None
                await self._wakeup.wait()
                self._wakeup = anyio.Event()
                self._wake_pending = False
                self._drain()
            tg.cancel_scope.cancel()

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            self._set_wakeup()

    def _drain(self, final: bool = False) -> None:
        queue = self._queue
        popleft = queue.popleft
        n = len(queue)
        while n > 0:
            k = min(n, self._batch_size)
            inbound = [popleft() for _ in range(k)]
            n -= k
            self._drained += k
            processed: tuple[list[Event], int] | None = None
            with handle_internal_errors("bus.enrich"):
                processed = self.pipeline.process(inbound)
            if processed is None:  # pragma: no cover - process() catches per item
                self._counters.drop("bus", "internal_error", k)
                continue
            self._fan_out(*processed)
        if self.pipeline.holding:  # held traces past their timeout (all of them at shutdown)
            with handle_internal_errors("bus.enrich"):
                self._fan_out(*self.pipeline.expire(everything=final))

    def _fan_out(self, batch: list[Event], failed: int) -> None:
        if failed:  # spans that could not be built: counted on this bus, never half-written
            self._counters.drop("bus", "internal_error", failed)
        k = len(batch)
        if not k:
            return
        for name, send in self._sends.items():
            if self._pending[name] + k > self._queue_size:  # each subscriber holds at most queue_size events
                self._counters.drop(name, "queue_full", k)
                continue
            try:
                send.send_nowait(batch)
            except anyio.WouldBlock:
                self._counters.drop(name, "queue_full", k)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._counters.drop(name, "sink_error", k)
            else:
                self._pending[name] += k

    async def _open(self, name: str, sink: Sink) -> None:
        # Optional hook: a sink that needs a worker thread (aiosqlite) starts it now, not on a
        # first write that may come at interpreter exit, when Python 3.12+ starts no thread.
        hook = getattr(sink, "open", None)
        if callable(hook):
            try:
                await hook()
            except Exception as exc:
                logger.warning("peekr: sink %r could not open (retried on its first write): %r", name, exc)

    def _tell_closing(self) -> None:
        # Optional hook: a sink that waits on a remote service stops waiting (an exporter gives up
        # retrying and spools), so what it holds is kept instead of cut off by the deadline.
        for name, sink in self._subscribers:
            hook = getattr(sink, "prepare_close", None)
            if callable(hook):
                try:
                    hook()
                except Exception as exc:
                    logger.warning("peekr: sink %r failed to prepare for shutdown: %r", name, exc, exc_info=exc)

    async def _run_subscriber(
        self, name: str, sink: Sink, receive: MemoryObjectReceiveStream[list[Event] | _FlushMarker]
    ) -> None:
        warned = False
        counts_own = bool(getattr(sink, "counts_own_delivery", False))
        merge_up_to = int(getattr(sink, "merge_batches_up_to", 0) or 0)
        try:
            await self._open(name, sink)
            async with receive:
                async for item in receive:
                    if isinstance(item, _FlushMarker):
                        item.finish(name, await self._flush_sink(name, sink, item.timeout))
                        continue
                    marker = None
                    if merge_up_to:
                        item, marker = _take_waiting(receive, item, merge_up_to)
                    try:
                        await sink.write(item)
                    except Exception as exc:
                        self._pending[name] -= len(item)
                        self._counters.drop(name, "sink_error", len(item))
                        if not warned:
                            warned = True
                            logger.warning(
                                "peekr: sink %r failed to write %d events (counted in stats(); "
                                "other sinks are unaffected): %r",
                                name,
                                len(item),
                                exc,
                                exc_info=exc,
                            )
                    else:
                        self._pending[name] -= len(item)
                        if not counts_own:
                            self._counters.deliver(name, len(item))
                    if marker is not None:
                        marker.finish(name, await self._flush_sink(name, sink, marker.timeout))
                    # Not kept while waiting for the next batch (up to a tick): the garbage collector would
                    # count this batch's records as survivors and move them to an older generation.
                    del item, marker
            with anyio.move_on_after(max(0.1, self._remaining())):
                try:
                    await sink.aclose()
                except Exception as exc:
                    logger.warning("peekr: sink %r failed to close: %r", name, exc, exc_info=exc)
        finally:
            self._done[name].set()

    async def _flush_sink(self, name: str, sink: Sink, timeout: float) -> bool:
        with anyio.move_on_after(timeout):
            try:
                await sink.flush(timeout)
            except Exception as exc:
                logger.warning("peekr: sink %r failed to flush: %r", name, exc, exc_info=exc)
                return False
            return True
        return False

    # -- control (flush / shutdown) ----------------------------------------------------------

    async def aflush(self, timeout: float = 5.0) -> bool:
        """Deliver everything published so far and flush every sink; False on timeout/failure.

        A flush round can make subscribers publish more (an evaluator finishing its in-flight
        evaluations publishes their results), so rounds repeat while events arrived during the
        round, within the same deadline: still in the queue, or already handed to the subscribers
        by the bus's own wake-up (behind this round's marker, so only the next round's marker
        waits for them to be written).
        """
        deadline = anyio.current_time() + timeout
        with anyio.move_on_after(timeout):
            ok = True
            for _ in range(4):
                self._drain()
                drained = self._drained
                marker = _FlushMarker(len(self._sends), max(0.0, deadline - anyio.current_time()))
                async with anyio.create_task_group() as tg:
                    for send in self._sends.values():
                        tg.start_soon(send.send, marker)
                await marker.done.wait()
                ok = not marker.failed
                if not self._queue and self._drained == drained:
                    break
            return ok
        return False

    def flush(self, timeout: float = 5.0) -> bool:
        """``aflush`` from any thread but the bus's own; blocks at most ``timeout`` seconds."""
        portal = self._portal
        if self.state is not RUNNING or portal is None:
            return self.state is not NEW
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("peekr.flush() cannot block the event loop the bus runs in; use `await peekr.aflush()`")
        future = portal.start_task_soon(self.aflush, timeout)
        try:
            return bool(future.result(timeout + 1.0))
        except Exception:
            return False

    def request_stop(self, timeout: float) -> None:
        """Ask the bus task to drain, close the sinks and end within ``timeout`` seconds.

        Upstream subscribers (evaluators) are closed first and may still publish their results;
        after that, events published are dropped and counted as ``shutdown``.
        """
        if self._stopping or self.state == CLOSED:
            return
        self._stop_timeout = timeout
        self._stop_requested_at = time.monotonic()
        self._stopping = True
        self._signal()

    def wait_closed(self, timeout: float) -> bool:
        """Block until the bus task ended (True) or ``timeout`` passed (False)."""
        return self._finished.wait(timeout)

    async def aclose(self, timeout: float = 5.0) -> bool:
        """Stop the bus from inside its own loop (host-loop mode)."""
        self.request_stop(timeout)
        done = self._closed
        if done is not None:
            with anyio.move_on_after(timeout + 0.5):
                await done.wait()
        return self._finished.is_set()


def _take_waiting(
    receive: MemoryObjectReceiveStream[list[Event] | _FlushMarker], batch: list[Event], limit: int
) -> tuple[list[Event], _FlushMarker | None]:
    """``batch`` joined with the batches already waiting behind it, up to about ``limit`` events.

    For sinks with ``merge_batches_up_to`` (one SQLite transaction per write: under load, fewer
    and larger ones). Stops at a flush marker, returned to be handled after the write.
    """
    merged: list[Event] | None = None
    while len(batch if merged is None else merged) < limit:
        try:
            waiting = receive.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream):
            break
        if isinstance(waiting, _FlushMarker):
            return (batch if merged is None else merged), waiting
        if merged is None:
            merged = list(batch)  # the batch is shared with the other subscribers: not extended in place
        merged.extend(waiting)
    return (batch if merged is None else merged), None
