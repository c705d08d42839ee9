"""`peekr server` and `peekr server keys ...` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import typer
from collector_helpers import auth, body, span_record
from typer.testing import CliRunner

from peekr.cli.server import register
from peekr.server._testing import free_port


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """peekr."""

    register(app)
    return app


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    runner, db = CliRunner(), str(tmp_path / "c.db")
    created = runner.invoke(
        _app(), ["server", "keys", "create", "--tenant", "acme", "--scope", "read", "--db", db, "-q"]
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("pk_live_") and len(key.splitlines()) == 1
    listed = runner.invoke(_app(), ["server", "keys", "list", "--db", db])
    assert "acme" in listed.stdout and "read" in listed.stdout and "active" in listed.stdout
    assert key.rsplit("_", 1)[-1] not in listed.stdout  # the secret is never shown again
    revoked = runner.invoke(_app(), ["server", "keys", "revoke", key, "--db", db])
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(_app(), ["server", "keys", "list", "--db", db]).stdout
    again = runner.invoke(_app(), ["server", "keys", "revoke", key, "--db", db])
    assert again.exit_code == 1 and "no active key" in again.output


def test_keys_create_rejects_an_unknown_scope(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(), ["server", "keys", "create", "--tenant", "acme", "--scope", "admin", "--db", str(tmp_path / "c.db")]
    )
    assert result.exit_code == 1 and "scope='admin'" in result.output


def test_peekr_server_serves_ingest(tmp_path: Path) -> None:
    db, port = str(tmp_path / "c.db"), free_port()
    key = CliRunner().invoke(_app(), ["server", "keys", "create", "--tenant", "acme", "--db", db, "-q"]).stdout.strip()
    code = "import sys, typer; from peekr.cli.server import register; app = typer.Typer(); app.callback()(lambda: None); register(app); app()"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "server", "--db", db, "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/ingest", json=body([span_record()]), headers=auth(key))
        assert answer.status_code == 200 and answer.json()["stored"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
