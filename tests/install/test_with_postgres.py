"""``make test`` runs pytest through scripts/deps/with-postgres.sh: a PostgreSQL it started is stopped
afterwards, one that was already running is left alone, and pytest's last line and exit status are kept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "scripts" / "deps" / "with-postgres.sh"
POSTGRES = ROOT / "scripts" / "deps" / "postgres.sh"
COMMAND = "import os, sys; print('dsn', os.environ['PEEKR_TEST_POSTGRES_DSN']); print('== 1 passed =='); sys.exit(3)"

pytestmark = pytest.mark.skipif(shutil.which("pg_isready") is None, reason="PostgreSQL is not installed")


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A cluster directory of our own (under /tmp, so the postgres user can reach it when run as root)."""
    path = Path("/tmp") / f"peekr-pg-wrapper-{uuid.uuid4().hex[:8]}"
    yield path
    if (path / "data" / "postmaster.pid").exists():
        subprocess.run(["bash", POSTGRES, "--stop"], env=_env(path), capture_output=True, timeout=60)
    shutil.rmtree(path, ignore_errors=True)


def _env(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEEKR_TEST_POSTGRES")}
    env["PEEKR_PG_STATE_DIR"] = str(state_dir)
    return env


def _running(dsn: str) -> bool:
    return subprocess.run(["pg_isready", "-d", dsn], capture_output=True, timeout=30).returncode == 0


def _wrapped(state_dir: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    result = subprocess.run(
        ["bash", WRAPPER, sys.executable, "-c", COMMAND],
        env=_env(state_dir),
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = result.stdout.splitlines()
    dsn = lines[0].removeprefix("dsn ")
    return result, dsn


def test_stops_the_postgres_it_started(state_dir: Path) -> None:
    result, dsn = _wrapped(state_dir)
    assert result.returncode == 3, result.stderr  # the command's status
    assert result.stdout.splitlines()[-1] == "== 1 passed =="  # nothing printed after the command
    assert not _running(dsn)
    assert not (state_dir / "data" / "postmaster.pid").exists()


def test_leaves_a_running_postgres_running(state_dir: Path) -> None:
    setup = subprocess.run(["bash", POSTGRES], env=_env(state_dir), capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, setup.stderr
    result, dsn = _wrapped(state_dir)
    assert result.returncode == 3, result.stderr
    assert f"PEEKR_TEST_POSTGRES_DSN='{dsn}'" in setup.stdout  # it reused the running cluster
    assert _running(dsn)
