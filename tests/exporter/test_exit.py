"""A script that never calls peekr.shutdown(): the exit flush reaches the collector, silently."""

from __future__ import annotations

import gzip
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
from collector_helpers import auth
from exporter_helpers import Collector

from peekr.server._testing import free_port


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60)


def test_exit_without_shutdown_delivers_to_a_collector_named_localhost(collector: Collector) -> None:
    endpoint = collector.url.replace("127.0.0.1", "localhost")  # a host name: resolved while exiting
    result = _run(
        f"""
        import peekr
        peekr.instrument(storage="none", exporter=peekr.HTTPExporter({endpoint!r}, {collector.key!r}))
        with peekr.span("last words", step=1):
            pass
        # no shutdown(): the atexit hook drains the bus
        """
    )
    assert result.returncode == 0
    assert result.stderr == ""  # no traceback, no warning
    window = {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    answer = httpx.get(collector.url + "/v1/traces", params=window, headers=auth(collector.read_key)).json()
    assert [trace["name"] for trace in answer["traces"]] == ["last words"]


def test_exit_without_shutdown_spools_when_the_collector_named_localhost_is_down(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    result = _run(
        f"""
        import peekr
        exporter = peekr.HTTPExporter("http://localhost:{free_port()}", "pk_test", spool_dir={str(spool)!r})
        peekr.instrument(storage="none", exporter=exporter)
        with peekr.span("last words"):
            pass
        """
    )
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    files = list(spool.glob("*.jsonl.gz"))
    assert len(files) == 1 and b'"last words"' in gzip.decompress(files[0].read_bytes())
