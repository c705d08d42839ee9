"""The bus thread's event loop: ``run_in_executor`` keeps working while the interpreter exits.

asyncio resolves host names (``loop.getaddrinfo``) in the loop's default executor, a
``ThreadPoolExecutor``. At interpreter exit the thread pools are shut before ``atexit`` handlers
run: ``concurrent.futures`` refuses new work ("cannot schedule new futures after interpreter
shutdown"; importing it for the first time then fails with "can't register atexit after
shutdown"), and from Python 3.12 no thread may start at all. Peekr's atexit handler is what
drains the bus, so an ``HTTPExporter`` pointed at ``http://localhost:8000`` could not resolve
``localhost`` and lost its last spans with two tracebacks.

OpenTelemetry's batch span processor and Sentry's transport send their last batch with
blocking I/O on a worker thread that already exists. The same here: once the pool refuses
work, it runs inline on the bus thread — the bus is only draining by then, so blocking it for a
name lookup is harmless.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ExitSafeExecutor", "new_bus_loop"]

T = TypeVar("T")


class ExitSafeExecutor(concurrent.futures.ThreadPoolExecutor):
    """A small thread pool that runs work inline once new work can no longer be scheduled.

    Created (so ``concurrent.futures.thread`` is imported) while the interpreter runs normally.
    """

    def __init__(self, max_workers: int = 2) -> None:
        super().__init__(max_workers, thread_name_prefix="peekr-bus-worker")

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Run ``fn`` in the pool; inline (blocking) when the pool refuses new work at exit."""
        try:
            return super().submit(fn, *args, **kwargs)
        except RuntimeError:  # interpreter shutdown: no new futures, no new threads
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            try:
                future.set_result(fn(*args, **kwargs))
            except Exception as exc:
                future.set_exception(exc)
            return future


if sys.platform == "win32":  # pragma: no cover - the platform's default loop class
    _Loop = asyncio.ProactorEventLoop
else:
    _Loop = asyncio.SelectorEventLoop


class _BusLoop(_Loop):
    """The platform's loop with an :class:`ExitSafeExecutor` that it can also shut down at exit."""

    async def shutdown_default_executor(self, *args: Any) -> None:
        try:
            await super().shutdown_default_executor(*args)
        except RuntimeError:  # Python 3.12+ at exit: no thread to join the pool from
            pass  # ``close()`` shuts the pool down without waiting; its workers are idle


def new_bus_loop() -> asyncio.AbstractEventLoop:
    """A new event loop for the bus thread (``anyio.run(..., backend_options={"loop_factory": ...})``)."""
    loop = _BusLoop()
    loop.set_default_executor(ExitSafeExecutor())
    return loop
