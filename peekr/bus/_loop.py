"""Where the bus task runs: the one place that decides it.

By default the bus owns a daemon thread named ``peekr-bus`` running its own asyncio loop, so
plain sync scripts work and the user's event loop never runs peekr's I/O. A daemon thread (not
a ``concurrent.futures`` worker) matters at exit: the interpreter joins non-daemon threads
*before* ``atexit`` handlers run, and peekr's atexit handler is what drains the bus.
"""

from __future__ import annotations

import logging
import threading

import anyio

from ._bus import EventBus
from ._executor import new_bus_loop

__all__ = ["start_in_thread"]

logger = logging.getLogger("peekr")


def start_in_thread(bus: EventBus, *, startup_timeout: float = 10.0) -> threading.Thread:
    """Run ``bus`` in a new daemon thread and wait until it accepts events."""
    started = threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(bus.run)
            started.set()

    def target() -> None:
        try:
            anyio.run(main, backend_options={"loop_factory": new_bus_loop})  # see _executor.py
        except BaseException as exc:  # reported to the starting thread, or logged once running
            if started.is_set():
                logger.error("peekr: the event bus stopped unexpectedly; spans are no longer recorded", exc_info=exc)
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=target, name="peekr-bus", daemon=True)
    thread.start()
    if not started.wait(startup_timeout) or failure:
        raise RuntimeError("peekr: the event bus thread failed to start") from (failure[0] if failure else None)
    return thread
