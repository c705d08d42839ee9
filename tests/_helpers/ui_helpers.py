"""Helpers for the web UI tests: publish a sample through peekr, run the real ``peekr ui`` command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from _ui_sample import UISample

import peekr
from peekr._runtime import get_runtime


def publish(sample: UISample, **instrument: object) -> None:
    """Send the sample through peekr's real pipeline: ``instrument`` + the bus + the configured sink."""
    peekr.instrument(providers=[], **instrument)  # type: ignore[arg-type]
    runtime = get_runtime()
    assert runtime is not None
    for span in sample.spans:
        runtime.publish(span.model_copy(deep=True))
    assert peekr.flush(10)
    for result in sample.evals:
        runtime.publish(result)
    assert peekr.shutdown(10)


#: How long ``start_local_ui`` waits for the first answer of ``peekr ui`` (it builds the app after printing its address).
READY_TIMEOUT_S = 60.0


@dataclass
class LocalUI:
    url: str
    proc: subprocess.Popen[str]


def start_local_ui(path: Path, *extra: str) -> LocalUI:
    """Run the real ``peekr ui`` command on ``path``; return once it prints its address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "peekr.cli", "ui", str(path), "--no-browser", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if match is None:
        proc.kill()
        raise AssertionError(f"peekr ui did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    url = match.group(0).rstrip("/")
    # The address is printed before the app is built and the server starts (a request made at once waits in the
    # listen backlog), so the first answer can take seconds on a loaded machine: longer than httpx's default
    # 5 s timeout that the tests' own requests use. Wait for it here, once, with a deadline of its own.
    try:
        httpx.get(url + "/", timeout=READY_TIMEOUT_S).raise_for_status()
    except Exception:
        proc.kill()
        proc.communicate()
        raise
    return LocalUI(url, proc)


def stop(ui: LocalUI) -> None:
    ui.proc.terminate()
    try:
        ui.proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        ui.proc.kill()
        ui.proc.communicate()
