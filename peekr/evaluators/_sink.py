"""``EvaluatorSink``: the bus subscriber that hands spans to the evaluation runner.

The runner lives in its own daemon thread (``peekr-eval``) with its own event loop, so judge
calls — seconds each — never share a loop with the sinks, and ``write`` returns at once: it only
appends spans to bounded backlogs. Results are published back onto the bus from that thread
through the ``BusHandle`` the bus binds (``publish`` is thread-safe and O(1)) and reach every
sink like any other event.

- ``flush(timeout)`` waits until the evaluations of spans received so far have finished and
  their results are published (the bus's flush then runs another round, which writes them to every sink).
- ``aclose()`` stops intake and waits for the received spans to be evaluated (their results are
  still published: the bus closes this subscriber before the sinks); the bus cancels it at its
  shutdown deadline, and then what is still running or waiting is cancelled (every lost span is
  counted in ``peekr.stats().dropped``).
- After ``os.fork()`` the child starts its own thread on first use.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import anyio

from .._errors import log_internal_error
from .._events import EvalResult, Event
from .._span import Span
from ..bus import BusHandle
from ._runner import EvaluationRunner, EvaluatorStats

__all__ = ["EvaluatorSink"]


_POLL = 0.005


class EvaluatorSink:
    """Runs evaluators on the spans of the bus; see the module docstring.

    Args:
        runner_factory: Builds a fresh ``EvaluationRunner`` (one per process).
    """

    name = "evaluators"

    def __init__(self, evaluators: Sequence[tuple[object, ...]]) -> None:
        self._evaluators = list(evaluators)
        self._runner: EvaluationRunner | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = False
        self._bus: BusHandle | None = None

    def bind(self, handle: BusHandle) -> None:
        """Called by the bus: results and drops go to this bus (a forked child's bus rebinds)."""
        self._bus = handle

    def _publish(self, result: EvalResult) -> None:
        bus = self._bus
        if bus is None or bus.closed:
            self._record_dropped(f"evaluators.{result.evaluator}", "shutdown", 1)
            return
        bus.publish(result)

    def _record_dropped(self, subscriber: str, reason: str, n: int) -> None:
        bus = self._bus
        if bus is not None:
            bus.record_dropped(subscriber, reason, n)

    def _new_runner(self) -> EvaluationRunner:
        return EvaluationRunner(self._evaluators, self._publish, self._record_dropped)  # type: ignore[arg-type]

    def _ensure_started(self) -> EvaluationRunner:
        runner = self._runner
        if runner is not None and self._pid == os.getpid():
            return runner
        runner = self._new_runner()
        thread = threading.Thread(target=self._run_loop, args=(runner,), name="peekr-eval", daemon=True)
        self._runner, self._thread, self._pid = runner, thread, os.getpid()
        thread.start()
        return runner

    @staticmethod
    def _run_loop(runner: EvaluationRunner) -> None:
        try:
            anyio.run(runner.run)
        except Exception as exc:  # never kill the process; spans keep flowing to the sinks
            log_internal_error("evaluators.loop", exc)  # counted in stats(); evaluations are off
        finally:
            runner.done.set()

    @property
    def runner(self) -> EvaluationRunner | None:
        """The current runner (None before the first span)."""
        return self._runner

    def stats(self) -> dict[str, EvaluatorStats]:
        """Counters per evaluator (empty before the first span)."""
        runner = self._runner
        return {} if runner is None else runner.stats()

    async def write(self, batch: Sequence[Event]) -> None:
        """Offer the batch's spans to the evaluators; returns at once."""
        if self._closed:
            return
        spans = [event for event in batch if isinstance(event, Span)]
        if spans:
            self._ensure_started().submit_many(spans)

    async def flush(self, timeout: float | None = None) -> None:
        """Wait (at most ``timeout`` s) until the spans received so far are evaluated and published."""
        runner = self._runner
        if runner is None or self._pid != os.getpid():
            return
        upto = runner.last_seq()
        # A little past ``timeout``: the bus's own deadline for this flush fires first, so the
        # flush reports False when evaluations are still running instead of racing to True.
        deadline = time.monotonic() + (timeout + 1.0 if timeout is not None else 30.0)
        while time.monotonic() < deadline and not runner.done.is_set():
            if all(seq > upto for seq in runner.outstanding()):
                return
            await anyio.sleep(_POLL)

    async def aclose(self) -> None:
        """Stop; wait for running evaluations until the bus's deadline cancels this call."""
        self._closed = True
        runner = self._runner
        if runner is None or self._pid != os.getpid():
            return
        runner.close()
        try:
            # ``done`` is a threading.Event set by the runner's own thread: poll it (an anyio.Event
            # cannot be set from another thread's loop without a token for this loop).
            while not runner.done.is_set():  # noqa: ASYNC110
                await anyio.sleep(_POLL)
        finally:
            if not runner.done.is_set():
                runner.cancel()  # the deadline passed: cancel running evaluations (counted)
