"""``anyio.to_thread.run_sync`` that still works while the interpreter exits.

Sinks move blocking file I/O to a worker thread. From Python 3.12 no thread may start once the
interpreter is exiting, and peekr's atexit handler is what drains the bus: a spool or JSONL
write would then fail and its events be lost. Here the call then runs inline on the bus thread
(which is only draining by then), as ``bus/_executor.py`` does for ``run_in_executor``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

__all__ = ["run_sync"]

T = TypeVar("T")


async def run_sync(func: Callable[..., T], *args: object) -> T:
    """``await anyio.to_thread.run_sync(func, *args)``, or ``func(*args)`` inline at exit."""
    started = False

    def call() -> T:
        nonlocal started
        started = True
        return func(*args)

    try:
        return await anyio.to_thread.run_sync(call)
    except RuntimeError:
        if started:  # raised by ``func`` itself
            raise
        return func(*args)  # no new thread at interpreter shutdown: block the (draining) bus thread
