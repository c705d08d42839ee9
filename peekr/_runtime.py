"""The runtime: the bus, its processor stage and its subscribers for one recording period.

A ``Runtime`` is an object a test can build, start and throw away (like OpenTelemetry's
``TracerProvider``); ``peekr.instrument()`` builds one and installs it as the process default
(``install``), which ``start_span`` and the public functions use through ``get_runtime()``.

Lifecycle (an explicit state machine):

- ``UNCONFIGURED``: built, not started; wrappers pass through.
- ``RUNNING``: spans are recorded and published.
- ``SHUTTING_DOWN``: draining the bus; new events are dropped and counted.
- ``CLOSED``: done; ``instrument()`` may start a new runtime.

``atexit`` drains the bus when a script never calls ``shutdown()``; after ``os.fork()`` the child
gets a fresh bus thread for the default runtime (sinks reopen their files and connections lazily
in the new process).
"""

from __future__ import annotations

import atexit
import enum
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._config import Settings
from ._pipeline import Inbound, Pipeline, add_cost
from ._sampling import HeldTraces, Sampler
from .bus import BusStats, EventBus, _loop
from .sinks._base import Sink

if TYPE_CHECKING:
    from ._budgets import BudgetLedger
    from .alerts._engine import AlertEngine
    from .evaluators import EvaluatorSink, EvaluatorStats

__all__ = [
    "Runtime",
    "State",
    "get_runtime",
    "install",
    "last_runtime",
    "record_delivered",
    "record_dropped",
]

logger = logging.getLogger("peekr")


class State(enum.Enum):
    """Where a runtime is in its life (see the module docstring)."""

    UNCONFIGURED = "unconfigured"
    RUNNING = "running"
    SHUTTING_DOWN = "shutting_down"
    CLOSED = "closed"


#: The process-default runtime while it runs. Read it with ``get_runtime()``; the name stays for
#: the integrations that still read it directly.
_active: Runtime | None = None
#: The last default runtime, kept after shutdown so ``stats()`` can still report what it dropped.
_last: Runtime | None = None
_lock = threading.RLock()
_fork_hook_registered = False


def get_runtime() -> Runtime | None:
    """The running process-default runtime, or None."""
    return _active


def last_runtime() -> Runtime | None:
    """The running default runtime, else the last one (for counters after shutdown), or None."""
    return _active or _last


def install(runtime: Runtime) -> None:
    """Make a started ``runtime`` the process default (what ``instrument()`` does)."""
    global _active, _last, _fork_hook_registered
    with _lock:
        _active = _last = runtime
        if not _fork_hook_registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_hook_registered = True


def record_dropped(subscriber: str, reason: str, n: int = 1) -> None:
    """Count events lost by a sink on the default runtime's bus (``peekr.stats().dropped``).

    A sink on a bus gets its own ``BusHandle`` (``bind``); this is for code that has none.
    """
    runtime = _active or _last
    if runtime is not None:
        runtime.bus.record_dropped(subscriber, reason, n)


def record_delivered(subscriber: str, n: int) -> None:
    """Count events a sink confirmed as stored, on the default runtime's bus (see ``record_dropped``)."""
    runtime = _active or _last
    if runtime is not None:
        runtime.bus.record_delivered(subscriber, n)


class Runtime:
    """Owns the bus, its processor stage and its subscribers, from ``start()`` to ``shutdown()``.

    Example (a runtime of its own, not the process default)::

        runtime = Runtime(Settings(storage="none"), [("memory", InMemorySink())])
        runtime.start()
        start_span("work", runtime=runtime).end()
        runtime.shutdown(5.0)

    Args:
        settings: The validated configuration (queue and batch sizes, capture, redaction).
        subscribers: ``(name, sink)`` pairs; names are unique and show in ``stats()``.
        tenant_id: Default ``tenant_id`` of its spans.
        retention_class: Default ``retention_class`` of its spans.
        evaluators: The evaluator subscriber (``"evaluators"``), closed first at shutdown.
        budgets: Spend budgets (``peekr._budgets.BudgetLedger``), if any.
        alerts: The alert engine (``peekr.alerts``), if any.
    """

    def __init__(
        self,
        settings: Settings,
        subscribers: Sequence[tuple[str, Sink]],
        tenant_id: str | None = None,
        retention_class: str = "default",
        *,
        evaluators: EvaluatorSink | None = None,
        budgets: BudgetLedger | None = None,
        alerts: AlertEngine | None = None,
    ) -> None:
        self.settings = settings
        #: Spend budgets: counted by a pipeline processor, checked before each provider call.
        self.budgets = budgets
        #: Alert rules: shown every record by the pipeline, delivered from their own thread.
        self.alerts = alerts
        #: The sinks, without the evaluator subscriber.
        self.sinks = list(subscribers)
        self.evaluators = evaluators
        self.subscribers: list[tuple[str, Sink]] = [*self.sinks, *([("evaluators", evaluators)] if evaluators else [])]
        self.tenant_id = tenant_id
        self.retention_class = retention_class
        self.state = State.UNCONFIGURED
        self.running = False
        self.handle: Any = None
        sampling = settings.sampling
        #: The trace sampler (``instrument(sample_rate=...)``), None when every trace is kept.
        self.sampler = Sampler(sampling) if sampling is not None and sampling.active else None
        self.bus = self._new_bus()
        self._thread: threading.Thread | None = None

    def _new_bus(self) -> EventBus:
        bus = EventBus(
            self.subscribers,
            queue_size=self.settings.queue_size,
            batch_size=self.settings.batch_size,
            flush_interval=self.settings.flush_interval,
            pipeline=Pipeline(
                redact_pii=self.settings.redact_pii,
                processors=(add_cost,) if self.budgets is None else (add_cost, self.budgets.observe),
                observers=() if self.alerts is None else (self.alerts.observe,),
                held=HeldTraces(self.sampler) if self.sampler is not None else None,
                scrubber=self.settings.scrub,
            ),
            upstream=["evaluators"] if self.evaluators is not None else [],
        )
        if self.alerts is not None:  # alerts lost or delivered show in stats() under "alerts"
            self.alerts.bind(
                lambda reason, n: bus.record_dropped("alerts", reason, n), lambda n: bus.record_delivered("alerts", n)
            )
        return bus

    def start(self) -> None:
        """Start the bus thread (``install`` makes it the process default)."""
        self._thread = _loop.start_in_thread(self.bus)  # looked up per call: the ASGI lifespan swaps it
        if self.alerts is not None:
            self.alerts.start()
        self.state = State.RUNNING
        self.running = True
        atexit.register(self._atexit)

    def evaluator_stats(self) -> dict[str, EvaluatorStats]:
        """Counters per evaluator (empty without evaluators)."""
        return {} if self.evaluators is None else self.evaluators.stats()

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
        if self.alerts is not None:  # alerts the last spans fired still go out, within the timeout
            self.alerts.evaluate()
            finished = self.alerts.close(min(timeout, 2.0)) and finished
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
        if self.sampler is not None:
            self.sampler.reset_after_fork()
        self.bus = self._new_bus()
        try:
            self._thread = _loop.start_in_thread(self.bus)  # looked up per call: the ASGI lifespan swaps it
        except Exception as exc:  # never break the forked child
            logger.warning("peekr: could not restart the event bus after fork: %r", exc)
            self.running = False


def _after_fork_in_child() -> None:
    runtime = _active
    if runtime is not None and runtime.running:
        runtime._reset_after_fork()
