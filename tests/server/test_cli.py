"""`peekr server` and `peekr server keys ...` as a user runs them."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import typer
from collector_helpers import auth, body, span_record
from typer.testing import CliRunner

from peekr.cli.server import register
from peekr.server._keys import parse_key
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
    parsed = parse_key(key)
    assert parsed is not None
    key_id, secret = parsed  # the secret may itself contain "_": split after the key id, never at the last "_"
    assert key_id in listed.stdout and secret not in listed.stdout  # the secret is never shown again
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


_PEEKR = "import sys, typer; from peekr.cli.server import register; app = typer.Typer(); app.callback()(lambda: None); register(app); app()"


@contextmanager
def _peekr_server(db: str, umask: int = 0o022) -> Iterator[str]:
    """`peekr server --db db` in its own process (with ``umask``); yields its URL once it answers."""
    port = free_port()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _PEEKR, "server", "--db", db, "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        umask=umask,
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
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def test_peekr_server_serves_ingest(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    key = CliRunner().invoke(_app(), ["server", "keys", "create", "--tenant", "acme", "--db", db, "-q"]).stdout.strip()
    with _peekr_server(db) as url:
        answer = httpx.post(f"{url}/v1/ingest", json=body([span_record()]), headers=auth(key))
        assert answer.status_code == 200 and answer.json()["stored"] == 1


@pytest.mark.parametrize("umask", [0o077, 0o002, 0o022])
def test_the_database_peekr_server_creates_follows_the_umask(tmp_path: Path, umask: int) -> None:
    db = tmp_path / "new.db"
    with _peekr_server(str(db), umask) as url:
        assert httpx.get(f"{url}/v1/traces", headers=auth("pk_live_000000000000_x")).status_code == 401
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert set(modes) >= {"new.db", "new.db-wal", "new.db-shm"}  # WAL files exist while it runs
    assert set(modes.values()) == {0o666 & ~umask}, {k: oct(v) for k, v in modes.items()}
