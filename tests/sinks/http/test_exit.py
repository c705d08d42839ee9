"""A script that never calls peekr.shutdown(): the exit flush stores or sends everything, silently.

Each script also runs with thread starts refused from the moment ``atexit`` handlers run, as
Python 3.12+ does ("can't create new thread at interpreter shutdown"), so the suite covers that
interpreter behaviour on any Python.
"""

from __future__ import annotations

import gzip
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from collector_helpers import auth
from exporter_helpers import Collector

from peekr.server._testing import free_port

# Registered after instrument(), so it runs before peekr's atexit hook (atexit is LIFO).
_NO_THREADS_AT_EXIT = """
import atexit, threading
def _refuse(self):
    raise RuntimeError("can't create new thread at interpreter shutdown")
atexit.register(setattr, threading.Thread, "start", _refuse)
"""

exit_modes = pytest.mark.parametrize("no_threads_at_exit", [False, True], ids=["py3.11-exit", "py3.12-exit"])


def _run(script: str, no_threads_at_exit: bool) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(script) + (_NO_THREADS_AT_EXIT if no_threads_at_exit else "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@exit_modes
def test_exit_without_shutdown_delivers_to_a_collector_named_localhost(
    collector: Collector, no_threads_at_exit: bool
) -> None:
    endpoint = collector.url.replace("127.0.0.1", "localhost")  # a host name: resolved while exiting
    result = _run(
        f"""
        import peekr
        peekr.instrument(storage="none", exporter=peekr.HTTPExporter({endpoint!r}, {collector.key!r}))
        with peekr.span("last words", step=1):
            pass
        # no shutdown(): the atexit hook drains the bus
        """,
        no_threads_at_exit,
    )
    assert result.returncode == 0
    assert result.stderr == ""  # no traceback, no warning
    window = {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    answer = httpx.get(collector.url + "/v1/traces", params=window, headers=auth(collector.read_key)).json()
    assert [trace["name"] for trace in answer["traces"]] == ["last words"]


@exit_modes
def test_exit_without_shutdown_spools_at_once_when_the_collector_named_localhost_is_down(
    tmp_path: Path, no_threads_at_exit: bool
) -> None:
    spool = tmp_path / "spool"
    result = _run(
        f"""
        import atexit, time
        import peekr
        atexit.register(lambda: print(f"exit took {{time.monotonic() - started:.1f}} s"))  # runs after peekr's
        exporter = peekr.HTTPExporter("http://localhost:{free_port()}", "pk_test", spool_dir={str(spool)!r})
        peekr.instrument(storage="none", exporter=exporter)
        with peekr.span("last words"):
            pass
        started = time.monotonic()
        """,
        no_threads_at_exit,
    )
    assert result.returncode == 0
    assert "Traceback" not in result.stderr and "dropped" not in result.stderr
    files = list(spool.glob("*.jsonl.gz"))
    assert len(files) == 1 and b'"last words"' in gzip.decompress(files[0].read_bytes())
    # spooled at once: no retrying until the shutdown deadline (5 s) cuts the write off
    assert float(result.stdout.split()[-2]) < 4, result.stdout


@exit_modes
@pytest.mark.parametrize("storage", ["sqlite", "jsonl"])
def test_exit_without_shutdown_stores_a_single_span(tmp_path: Path, storage: str, no_threads_at_exit: bool) -> None:
    path = tmp_path / f"traces.{'db' if storage == 'sqlite' else 'jsonl'}"
    result = _run(
        f"""
        import peekr
        peekr.instrument(storage={storage!r}, path={str(path)!r})
        with peekr.span("only one"):
            pass
        """,
        no_threads_at_exit,
    )
    assert result.returncode == 0 and result.stderr == ""
    if storage == "sqlite":
        assert sqlite3.connect(path).execute("SELECT name FROM spans").fetchall() == [("only one",)]
    else:
        assert '"only one"' in path.read_text()
