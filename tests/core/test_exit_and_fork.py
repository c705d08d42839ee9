"""Nothing is lost when a script exits without shutdown(); forked children keep tracing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def test_exit_without_shutdown_keeps_all_10000_spans(tmp_path: Path) -> None:
    db_path, jsonl_path = tmp_path / "traces.db", tmp_path / "traces.jsonl"
    script = textwrap.dedent(
        f"""
        import peekr
        from peekr.sinks import JSONLSink
        peekr.instrument(storage="sqlite", path={str(db_path)!r}, sinks=[JSONLSink({str(jsonl_path)!r})])
        for i in range(10_000):
            with peekr.span("unit", i=i):
                pass
        # no shutdown(): the atexit hook must drain the bus
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dropped" not in result.stderr
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT json_extract(attributes, '$.i')) FROM spans").fetchone() == (
        10_000,
        10_000,
    )
    lines = jsonl_path.read_text().splitlines()
    assert len(lines) == 10_000
    assert {json.loads(line)["attributes"]["i"] for line in lines} == set(range(10_000))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_records_with_its_own_bus_and_connection(tmp_path: Path) -> None:
    db_path = tmp_path / "traces.db"
    script = textwrap.dedent(
        f"""
        import os, peekr
        peekr.instrument(storage="sqlite", path={str(db_path)!r})
        with peekr.span("parent-before-fork"):
            pass
        peekr.flush()
        pid = os.fork()
        if pid == 0:
            with peekr.span("child", pid=os.getpid()):
                pass
            ok = peekr.shutdown()
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        with peekr.span("parent-after-fork"):
            pass
        peekr.shutdown()
        raise SystemExit(os.waitstatus_to_exitcode(status))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    names = sorted(r[0] for r in sqlite3.connect(db_path).execute("SELECT name FROM spans"))
    assert names == ["child", "parent-after-fork", "parent-before-fork"]
