"""Long commands show progress on a terminal and keep stderr quiet when it is not one."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import peekr
from peekr.testing.fake_provider import FakeProvider

FAILING_JUDGE = "gpt-4o-mini-error-401"  # fails fast, but every span still goes through the bar


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def llm_db(tmp_path: Path) -> Path:
    db = tmp_path / "llm.db"
    peekr.instrument(storage="sqlite", path=db, providers=[])
    for i in range(3):
        with peekr.span(
            "openai.chat.completions",
            provider="openai",
            model="gpt-4o",
            input=[{"role": "system", "content": "Paris is in France."}, {"role": "user", "content": "Where?"}],
            output=f"Paris is in France. {i}",
        ):
            pass
    assert peekr.shutdown(10)
    return db


def _commands(db: Path, traces_db: Path, fake: FakeProvider, out: Path) -> dict[str, list[str]]:
    return {
        "evaluating": ["eval", str(db), "--base-url", fake.openai_base_url, "--model", FAILING_JUDGE],
        "judging": ["eval-judge", "--base-url", fake.openai_base_url, "--model", FAILING_JUDGE, "-c", "16"],
        "exporting": ["export-feedback", str(traces_db), "-o", str(out / "training.jsonl")],
        "counting": ["prune", str(traces_db), "--dry-run"],
        "pruning": ["prune", str(traces_db)],
        "reading traces.db": ["cost", str(traces_db), "--by", "model"],
    }


def _env() -> dict[str, str]:
    env = {**os.environ, "OPENAI_API_KEY": "sk-fake", "COLUMNS": "120", "LINES": "40", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    return env


def test_quiet_on_stderr_when_not_a_terminal(
    cli, llm_db: Path, traces_db: Path, fake: FakeProvider, tmp_path: Path
) -> None:
    for what, args in _commands(llm_db, traces_db, fake, tmp_path).items():
        result = cli(args, columns=120, env={"OPENAI_API_KEY": "sk-fake", "TERM": "xterm", "NO_COLOR": None})
        assert result.out, what  # the summary is still printed
        assert result.err == "", (what, result.err)


def _on_terminal(args: list[str]) -> bytes:
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "peekr.cli", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=_env(),
        close_fds=True,
    )
    os.close(terminal)
    screen = b""
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None or select.select([controller], [], [], 0.2)[0]:
            assert time.monotonic() < deadline, screen[-2000:]
            if select.select([controller], [], [], 0.2)[0]:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
        os.close(controller)
    return screen


def test_progress_on_a_terminal(llm_db: Path, traces_db: Path, fake: FakeProvider, tmp_path: Path) -> None:
    for what, args in _commands(llm_db, traces_db, fake, tmp_path).items():
        screen = _on_terminal(args)
        assert what.encode() in screen, (what, screen[-1500:])
