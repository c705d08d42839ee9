"""The runtime: one per process, owning the bus, the sinks and the provider patches.

Lifecycle (an explicit state machine):

- ``UNCONFIGURED``: ``instrument()`` not called (or the last runtime closed); wrappers pass through.
- ``RUNNING``: spans are recorded and published.
- ``SHUTTING_DOWN``: draining the bus; new events are dropped and counted.
- ``CLOSED``: done; ``instrument()`` may start a new runtime.

``atexit`` drains the bus when a script never calls ``shutdown()``; after ``os.fork()`` the child
gets a fresh bus thread (sinks reopen their files and connections lazily in the new process).
"""

from __future__ import annotations

import atexit
import enum
import logging
import os
import threading
from typing import Any

from ._config import Settings
from ._pipeline import Inbound, Pipeline
from .bus import BusStats, EventBus
from .bus._loop import start_in_thread
from .sinks._base import Sink

__all__ = ["Runtime", "State", "get_runtime", "record_delivered", "record_dropped"]

logger = logging.getLogger("peekr")


class State(enum.Enum):
    """Where a runtime is in its life (see the module docstring)."""

    UNCONFIGURED = "unconfigured"
    RUNNING = "running"
    SHUTTING_DOWN = "shutting_down"
    CLOSED = "closed"


#: The running runtime, read on every instrumented call (a plain module global: fastest lookup).
_active: Runtime | None = None
#: The last runtime, kept after shutdown so ``stats()`` can still report what it dropped.
_last: Runtime | None = None
_lock = threading.RLock()
_fork_hook_registered = False


def get_runtime() -> Runtime | None:
    """The running runtime, or None."""
    return _active


def record_dropped(subscriber: str, reason: str, n: int = 1) -> None:
    """Count events a sink gave up on by itself (shown in ``peekr.stats().dropped``)."""
    runtime = _active or _last
    if runtime is not None:
        runtime.bus.record_dropped(subscriber, reason, n)


def record_delivered(subscriber: str, n: int) -> None:
    """Count events a sink confirmed as stored (sinks with ``counts_own_delivery = True``)."""
    runtime = _active or _last
    if runtime is not None:
        runtime.bus.record_delivered(subscriber, n)


class Runtime:
    """Owns the bus and its subscribers for one ``instrument()`` … ``shutdown()`` period."""

    def __init__(
        self, settings: Settings, subscribers: list[tuple[str, Sink]], tenant_id: str | None, retention_class: str
    ) -> None:
        self.settings = settings
        self.subscribers = subscribers
        self.tenant_id = tenant_id
        self.retention_class = retention_class
        self.state = State.UNCONFIGURED
        self.running = False
        self.handle: Any = None
        self.bus = self._new_bus()
        self._thread: threading.Thread | None = None

    def _new_bus(self) -> EventBus:
        return EventBus(
            self.subscribers,
            queue_size=self.settings.queue_size,
            batch_size=self.settings.batch_size,
            flush_interval=self.settings.flush_interval,
            pipeline=Pipeline(redact_pii=self.settings.redact_pii),
            upstream=[name for name, _ in self.subscribers if name.startswith("evaluators")],
        )

    def start(self) -> None:
        """Start the bus thread and become the active runtime."""
        global _active, _last, _fork_hook_registered

        self._thread = start_in_thread(self.bus)
        self.state = State.RUNNING
        self.running = True
        with _lock:
            _active = _last = self
            if not _fork_hook_registered and hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)
                _fork_hook_registered = True
        atexit.register(self._atexit)

    def publish(self, event: Inbound) -> None:
        """Hand an event to the bus (O(1), never blocks, never raises)."""
        self.bus.publish(event)

    def flush(self, timeout: float) -> bool:
        """Deliver everything published so far to every sink, within ``timeout`` seconds."""
        return self.bus.flush(timeout)

    def shutdown(self, timeout: float) -> bool:
        """Drain and close; idempotent; returns False if the sinks did not finish in time.

        The runtime stays the active one until the bus has closed, so evaluators finishing
        their in-flight work can still publish results; no new spans start meanwhile.
        """
        global _active
        with _lock:
            if self.state in (State.SHUTTING_DOWN, State.CLOSED):
                return self.bus.wait_closed(0) and not self.bus.timed_out
            self.state = State.SHUTTING_DOWN
            self.running = False
        atexit.unregister(self._atexit)
        self.bus.request_stop(timeout)
        finished = self.bus.wait_closed(timeout + 0.5) and not self.bus.timed_out
        with _lock:
            if _active is self:
                _active = None
        self.state = State.CLOSED
        if not finished:
            logger.warning("peekr: shutdown(timeout=%s) returned before every sink finished", timeout)
        return finished

    def stats(self) -> BusStats:
        """A snapshot of the bus counters."""
        return self.bus.stats()

    def _atexit(self) -> None:
        self.shutdown(self.settings.shutdown_timeout)

    def _reset_after_fork(self) -> None:
        # The bus thread does not exist in the child. Start a fresh bus with the same sinks;
        # the sinks notice the new pid and reopen their files/connections on first write.
        self.bus = self._new_bus()
        try:
            self._thread = start_in_thread(self.bus)
        except Exception as exc:  # never break the forked child
            logger.warning("peekr: could not restart the event bus after fork: %r", exc)
            self.running = False


def _after_fork_in_child() -> None:
    runtime = _active
    if runtime is not None and runtime.running:
        runtime._reset_after_fork()
