"""``EvaluationRunner``: evaluates spans concurrently, bounded everywhere, on any anyio backend.

Each evaluator gets a *lane*: a bounded backlog (a ``deque`` filled by ``submit`` from any
thread in O(1)) and ``max_concurrency`` worker tasks draining it. A full backlog drops the new
span and counts it (``queue_full``); a slow evaluator fills only its own lane. Results go to
``publish`` (the bus, in production). ``close()`` stops intake and lets the workers finish the
backlog; ``cancel()`` ends running and waiting evaluations at once (counted as ``shutdown``). Where the runner's loop lives is the sink's business (``_sink.py``).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import sniffio
from anyio.abc import TaskStatus

from .._errors import handle_internal_errors
from .._events import EvalResult
from .._span import Span
from ._base import RunSettings
from ._evaluate import evaluate_span

__all__ = ["EvaluationRunner", "EvaluatorStats"]

logger = logging.getLogger("peekr")

Publish = Callable[[EvalResult], None]
Drop = Callable[[str, str, int], None]


@dataclass(frozen=True)
class EvaluatorStats:
    """Counters of one evaluator (a snapshot).

    Attributes:
        submitted: spans offered to it (after the span filter and sampling).
        filtered: spans its filter rejected (or whose filter raised).
        sampled_out: spans skipped by ``sample_rate``.
        dropped: spans lost: backlog full, shutdown, or cancelled at shutdown.
        ok: evaluations that produced scores.
        failed: evaluations recorded as failed (judge error, bad output, timeout, raised).
        timed_out: of ``failed``, those that hit the timeout.
        skipped: evaluations that returned ``SKIP``.
        in_flight: evaluations running now.
        backlog: spans waiting now.
    """

    submitted: int = 0
    filtered: int = 0
    sampled_out: int = 0
    dropped: int = 0
    ok: int = 0
    failed: int = 0
    timed_out: int = 0
    skipped: int = 0
    in_flight: int = 0
    backlog: int = 0


class _Lane:
    """One evaluator's backlog, workers and counters."""

    def __init__(self, name: str, evaluate: Callable[[Span], Any], settings: RunSettings, owner: Any) -> None:
        self.name = name
        self.evaluate = evaluate
        self.settings = settings
        self.owner = owner
        self.subscriber = f"evaluators.{name}"
        self.backlog: deque[tuple[int, Span]] = deque()
        self.running: dict[int, Span] = {}
        self.wakeup: anyio.Event | None = None
        self.counts: dict[str, int] = dict.fromkeys(
            ("submitted", "filtered", "sampled_out", "dropped", "ok", "failed", "timed_out", "skipped"), 0
        )


class EvaluationRunner:
    """Evaluate spans off the caller's path. See the module docstring for the contract.

    Args:
        evaluators: ``(name, evaluate, settings, owner)`` per evaluator (from ``to_evaluator``);
            ``owner`` is the user's object, closed (``aclose()``) when the runner ends.
        publish: Receives every ``EvalResult`` (called in the runner's loop; must not block).
        on_drop: Counts lost spans: ``(subscriber, reason, n)`` (the bus's ``record_dropped``).
    """

    def __init__(
        self,
        evaluators: Sequence[tuple[str, Callable[[Span], Any], RunSettings, Any]],
        publish: Publish,
        on_drop: Drop,
    ) -> None:
        self._lanes = [_Lane(name, fn, settings, owner) for name, fn, settings, owner in evaluators]
        self._publish = publish
        self._on_drop = on_drop
        self._seq = 0
        self._lock = threading.Lock()  # guards _seq and lane bookkeeping shared across threads
        self._wake: Callable[[], object] | None = None
        self._wake_pending = False
        self._closing = False
        self._cancel_scope: anyio.CancelScope | None = None
        self._call_in_loop: Callable[[Callable[[], None]], Any] | None = None
        self.done = threading.Event()

    # -- any thread ---------------------------------------------------------------------------------

    def submit(self, span: Span) -> None:
        """Offer one span; see ``submit_many``."""
        self.submit_many((span,))

    def submit_many(self, spans: Sequence[Span]) -> None:
        """Offer spans to every evaluator whose filter and sample accept them.

        O(1) per span and lane, never blocks: a full backlog drops the span (counted). An evaluator
        with an ``observe(span)`` method sees every span first, whatever its filter (the
        hallucination evaluator keeps the retrieved documents of each trace that way).
        """
        for lane in self._lanes:
            observe = getattr(lane.owner, "observe", None)
            if callable(observe):
                for span in spans:
                    try:
                        observe(span)
                    except Exception as exc:
                        logger.warning("peekr: evaluator %r failed to observe a span: %r", lane.name, exc)
        for lane in self._lanes:
            settings = lane.settings
            accepted: list[Span] = []
            filtered = sampled_out = 0
            for span in spans:
                try:
                    ok = bool(settings.filter(span))
                except Exception as exc:
                    ok = False
                    if lane.counts["filtered"] == 0 and filtered == 0:
                        logger.warning("peekr: the span filter of evaluator %r raised %r; span skipped", lane.name, exc)
                if not ok:
                    filtered += 1
                elif settings.sampled():
                    accepted.append(span)
                else:
                    sampled_out += 1
            full = 0
            with self._lock:
                lane.counts["filtered"] += filtered
                lane.counts["sampled_out"] += sampled_out
                if not self._closing:
                    room = max(0, settings.max_backlog - len(lane.backlog))
                    for span in accepted[:room]:
                        self._seq += 1
                        lane.backlog.append((self._seq, span))
                    lane.counts["submitted"] += min(room, len(accepted))
                    full = max(0, len(accepted) - room)
            if self._closing and accepted:
                self._drop(lane, "shutdown", len(accepted))
            elif full:
                self._drop(lane, "queue_full", full)
        self._signal()

    def _drop(self, lane: _Lane, reason: str, n: int = 1) -> None:
        with self._lock:
            lane.counts["dropped"] += n
        self._on_drop(lane.subscriber, reason, n)

    def _signal(self) -> None:
        wake = self._wake
        if wake is not None and not self._wake_pending:
            self._wake_pending = True
            try:
                wake()
            except RuntimeError:  # the loop is closing
                self._wake_pending = False

    def outstanding(self) -> set[int]:
        """Sequence numbers of spans waiting or being evaluated."""
        with self._lock:
            pending = {seq for lane in self._lanes for seq, _ in lane.backlog}
            return pending | {seq for lane in self._lanes for seq in lane.running}

    def last_seq(self) -> int:
        """The sequence number of the latest accepted span."""
        return self._seq

    def stats(self) -> dict[str, EvaluatorStats]:
        """Counters per evaluator."""
        with self._lock:
            return {
                lane.name: EvaluatorStats(**lane.counts, in_flight=len(lane.running), backlog=len(lane.backlog))
                for lane in self._lanes
            }

    def close(self) -> None:
        """Stop taking spans; the workers finish the backlog and exit (``cancel()`` cuts it short)."""
        self._closing = True
        self._signal()

    def cancel(self) -> None:
        """Close, and cancel running evaluations now (counted as ``shutdown`` drops)."""
        self.close()
        call = self._call_in_loop
        scope = self._cancel_scope
        if call is not None and scope is not None:
            try:
                call(scope.cancel)
            except RuntimeError:  # the loop already ended
                pass

    # -- the runner's loop ------------------------------------------------------------------------------

    def _install_waker(self) -> None:
        call: Callable[[Callable[[], None]], Any]
        if sniffio.current_async_library() == "trio":
            import trio

            call = trio.lowlevel.current_trio_token().run_sync_soon
        else:
            import asyncio

            call = asyncio.get_running_loop().call_soon_threadsafe
        self._call_in_loop = call
        self._wake = lambda: call(self._wake_all)

    def _wake_all(self) -> None:
        # Runs as a loop callback (no current task): only *set* events here; workers create them.
        self._wake_pending = False
        for lane in self._lanes:
            if lane.wakeup is not None:
                lane.wakeup.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Evaluate until ``close()`` and the running evaluations finish, or ``cancel()``."""
        try:
            self._install_waker()
            await self._prepare_owners()
            async with anyio.create_task_group() as tg:
                self._cancel_scope = tg.cancel_scope
                for lane in self._lanes:
                    for i in range(lane.settings.max_concurrency):
                        tg.start_soon(self._worker, lane, name=f"peekr-eval-{lane.name}-{i}")
                task_status.started()
            await self._close_owners()
        finally:
            self._wake = None
            self._call_in_loop = None
            with self._lock:
                lost = [(lane, len(lane.running) + len(lane.backlog)) for lane in self._lanes]
                for lane in self._lanes:
                    lane.running.clear()
                    lane.backlog.clear()
            for lane, n in lost:
                if n:
                    self._drop(lane, "shutdown", n)
            self.done.set()

    async def _prepare_owners(self) -> None:
        # e.g. import the judge's SDK (seconds on a cold start) before any evaluation's clock runs.
        for lane in self._lanes:
            prepare = getattr(lane.owner, "prepare", None)
            if prepare is not None and callable(prepare):
                try:
                    await anyio.to_thread.run_sync(prepare, abandon_on_cancel=True)
                except Exception as exc:
                    logger.debug("peekr: preparing evaluator %r failed: %r", lane.name, exc)

    async def _close_owners(self) -> None:
        with anyio.move_on_after(2.0, shield=True):
            for lane in self._lanes:
                aclose = getattr(lane.owner, "aclose", None)
                if aclose is not None and callable(aclose):
                    try:
                        await aclose()
                    except Exception as exc:
                        logger.debug("peekr: closing evaluator %r failed: %r", lane.name, exc)

    async def _worker(self, lane: _Lane) -> None:
        while True:
            with self._lock:
                item = lane.backlog.popleft() if lane.backlog else None
                if item is not None:
                    lane.running[item[0]] = item[1]
            if item is None:
                if self._closing:
                    return
                event = lane.wakeup
                if event is None or event.is_set():
                    event = lane.wakeup = anyio.Event()
                await event.wait()
                continue
            seq, span = item
            finished = False
            try:
                outcome = await evaluate_span(lane.name, lane.evaluate, lane.settings, span)
                finished = True
                with handle_internal_errors("evaluators.record"):
                    self._record(lane, outcome.result, outcome.failure)
            finally:
                with self._lock:
                    lane.running.pop(seq, None)
                if not finished:  # cancelled at shutdown
                    self._drop(lane, "shutdown")

    def _record(self, lane: _Lane, result: EvalResult | None, failure: str | None) -> None:
        kind = "skipped" if result is None else "ok" if result.status == "ok" else "failed"
        with self._lock:
            lane.counts[kind] += 1
            if failure == "timeout":
                lane.counts["timed_out"] += 1
        if result is None:
            return
        if result.status != "ok":
            if failure == "timeout":
                self._on_drop(lane.subscriber, "timeout", 1)
            elif failure == "evaluator_error":
                self._on_drop(lane.subscriber, "evaluator_error", 1)
            else:
                self._on_drop(lane.subscriber, "eval_failed", 1)
        try:
            self._publish(result)
        except Exception as exc:  # publish never raises in production; a test hook might
            logger.warning("peekr: publishing an evaluation result failed: %r", exc)
