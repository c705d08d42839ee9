"""Run a real collector (uvicorn) in a background thread: for tests, benchmarks and examples.

Example:
    >>> with run_collector(ServerSettings(db="traces.db")) as collector:
    ...     httpx.get(collector.url + "/healthz")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from ._app import create_app
from ._config import ServerSettings

__all__ = ["RunningCollector", "free_port", "run_collector"]


@dataclass
class RunningCollector:
    """A collector serving on ``url`` until the ``run_collector`` block ends."""

    url: str
    port: int
    server: uvicorn.Server


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_collector(
    settings: ServerSettings | None = None,
    *,
    app: ASGIApp | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 15.0,
) -> Iterator[RunningCollector]:
    """Serve ``app`` (default: ``create_app(settings)``) with uvicorn on ``host:port`` (0 = any free port).

    Raises:
        RuntimeError: the server did not start within ``startup_timeout`` seconds.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it each small response waits ~40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app or create_app(settings), log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"peekr-collector-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"collector did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield RunningCollector(f"http://{host}:{port}", port, server)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
