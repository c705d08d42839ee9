"""``peekr server`` in its own process (several of them share one database in the scale tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from peekr.server._testing import free_port

_PEEKR = (
    "import typer; from peekr.cli.server import register; app = typer.Typer(); "
    "app.callback()(lambda: None); register(app); app()"
)


@contextmanager
def peekr_server(db: str, *options: str, umask: int = 0o022) -> Iterator[str]:
    """`peekr server --db db *options` in a new process; yields its URL once ``/healthz`` answers."""
    port = free_port()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _PEEKR, "server", "--db", db, "--port", str(port), "--log-level", "warning",
             *options],
            env=env, stdout=subprocess.DEVNULL, stderr=err, umask=umask,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    err.seek(0)
                    raise AssertionError(f"peekr server did not start: {err.read().decode(errors='replace')}")
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
