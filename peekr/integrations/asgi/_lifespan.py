"""The lifespan helper: instrument on startup, flush and shut down on shutdown.

``FastAPI(lifespan=lifespan(storage="sqlite", app_lifespan=my_lifespan))``: Peekr starts before
the app's own lifespan (so LLM calls made at startup are traced) and stops after it (so calls
made while shutting down are stored too). Shutdown waits in a worker thread, never blocking the
event loop. If peekr was already instrumented when the app started (``peekr.instrument()`` at
import time), the helper only flushes at shutdown: it does not stop what it did not start.

Where the bus runs: ``lifespan()`` keeps Peekr's own daemon thread (as in any script).
``_host_loop_lifespan()`` is the measured prototype of the alternative — the bus task in the
app's event loop, in a task group owned by the lifespan — kept private because it was not faster
(``benchmarks/results/fastapi.md``) and is less safe: sinks then share the app's loop (one that
blocks stalls requests) and ``peekr.flush()`` from the loop's thread raises. The core has no
switch for it, so the prototype defers the bus start by swapping ``peekr.bus._loop.start_in_thread``
for the duration of ``instrument()`` (under a lock).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal

import anyio
import anyio.to_thread

from ... import _runtime
from ..._api import Instrumentation, instrument

__all__ = ["lifespan"]

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]

_swap_lock = threading.Lock()


def _check_app_lifespan(app_lifespan: Any) -> Lifespan | None:
    if app_lifespan is None:
        return None
    if not callable(app_lifespan):
        raise TypeError(f"lifespan(app_lifespan=...) expects a lifespan function of the app, got {app_lifespan!r}")
    if inspect.isasyncgenfunction(app_lifespan):  # a bare `async def f(app): yield` also works
        return asynccontextmanager(app_lifespan)
    return app_lifespan  # type: ignore[no-any-return]


def _unstarted_thread(bus: Any, **_: Any) -> threading.Thread:
    """Stands in for ``start_in_thread``: the bus is started in the host loop instead."""
    return threading.Thread(name="peekr-bus (host loop)", daemon=True)


def _instrument(mode: str, kwargs: Mapping[str, Any]) -> Instrumentation:
    if mode == "thread":
        return instrument(**kwargs)
    from ...bus import _loop

    with _swap_lock:
        original = _loop.start_in_thread
        _loop.start_in_thread = _unstarted_thread
        try:
            return instrument(**kwargs)
        finally:
            _loop.start_in_thread = original


def lifespan(
    app_lifespan: Lifespan | Callable[[Any], AsyncIterator[Any]] | None = None,
    *,
    shutdown_timeout: float = 5.0,
    **instrument_kwargs: Any,
) -> Lifespan:
    """A FastAPI/Starlette ``lifespan`` that runs Peekr for the life of the app.

    Example:
        >>> from contextlib import asynccontextmanager
        >>> from fastapi import FastAPI
        >>> from peekr.integrations.fastapi import lifespan
        >>> @asynccontextmanager
        ... async def my_lifespan(app):
        ...     app.state.client = AsyncOpenAI()
        ...     yield
        >>> app = FastAPI(lifespan=lifespan(my_lifespan, storage="sqlite", path="traces.db"))

    Args:
        app_lifespan: The app's own lifespan (``app -> async context manager``, or an
            ``async def f(app): ... yield ...`` generator), entered after Peekr started and
            exited before Peekr stops. The state it yields is passed through.
        shutdown_timeout: Seconds the final flush and shutdown may take.
        **instrument_kwargs: Any ``peekr.instrument()`` argument (``storage``, ``path``,
            ``exporter``, ``evaluators``, ``tenant_id``...), validated when the app starts.

    Returns:
        A function of the app returning an async context manager, what ``FastAPI(lifespan=...)``
        and ``Starlette(lifespan=...)`` expect.

    Raises:
        TypeError: ``app_lifespan`` is not callable, or an unknown ``instrument()`` argument.
        ValueError: ``shutdown_timeout`` is not positive.
    """
    return _make_lifespan(app_lifespan, "thread", shutdown_timeout, instrument_kwargs)


def _host_loop_lifespan(
    app_lifespan: Lifespan | Callable[[Any], AsyncIterator[Any]] | None = None,
    *,
    shutdown_timeout: float = 5.0,
    **instrument_kwargs: Any,
) -> Lifespan:
    """``lifespan()`` with the bus task in the app's event loop (the benchmarked prototype)."""
    return _make_lifespan(app_lifespan, "loop", shutdown_timeout, instrument_kwargs)


def _make_lifespan(
    app_lifespan: Lifespan | Callable[[Any], AsyncIterator[Any]] | None,
    bus: Literal["thread", "loop"],
    shutdown_timeout: float,
    instrument_kwargs: dict[str, Any],
) -> Lifespan:
    inner = _check_app_lifespan(app_lifespan)
    if isinstance(shutdown_timeout, bool) or not isinstance(shutdown_timeout, (int, float)) or shutdown_timeout <= 0:
        raise ValueError(f"lifespan(shutdown_timeout=...) must be a positive number, got {shutdown_timeout!r}")
    try:
        inspect.signature(instrument).bind(**instrument_kwargs)
    except TypeError as exc:
        raise TypeError(f"lifespan(...): {exc} (the extra arguments go to peekr.instrument())") from None
    kwargs = dict(instrument_kwargs)
    timeout = float(shutdown_timeout)

    @asynccontextmanager
    async def peekr_lifespan(app: Any) -> AsyncIterator[Any]:
        owned = _runtime.get_runtime() is None
        handle = _instrument(bus, kwargs) if owned else None
        try:
            async with contextlib.AsyncExitStack() as stack:
                if handle is not None and bus == "loop":
                    tg = await stack.enter_async_context(anyio.create_task_group())
                    await tg.start(handle._runtime.bus.run)
                    # The bus task ends when shutdown() below asks it to; the task group waits.
                    stack.push_async_callback(_shutdown, handle, timeout)
                state = None
                if inner is not None:
                    state = await stack.enter_async_context(inner(app))
                yield state
        finally:
            if handle is not None:
                await _shutdown(handle, timeout)
            else:
                await _aflush(timeout)

    return peekr_lifespan


async def _shutdown(handle: Instrumentation, timeout: float) -> None:
    """Flush and shut down without blocking the loop (which may be running the bus)."""
    await anyio.to_thread.run_sync(handle.shutdown, timeout)


async def _aflush(timeout: float) -> None:
    from ..._api import aflush

    await aflush(timeout)
