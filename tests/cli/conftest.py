"""Fixtures for the CLI tests: trace files written like the real sinks write them, and a runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import peekr
from peekr._events import EvalResult, Feedback
from peekr._runtime import get_runtime

sys.path.insert(0, str(Path(__file__).parent))
from _cli_sample import Sample, build


@dataclass
class Result:
    code: int
    out: str
    err: str


def _run(args: list[str], *, cwd: Path | None = None, stdin: str | None = None, timeout: float = 60) -> Result:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "PYTHONWARNINGS": "error"}
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "peekr.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin if stdin is not None else "",
        timeout=timeout,
        env=env,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run the real ``peekr`` command in a subprocess."""
    return _run


def _write(storage: str, path: Path, sample: Sample) -> None:
    """Write the sample through the real sink: ``peekr.instrument`` + the bus + ``shutdown``.

    Spans, evaluation results and feedback go through ``runtime.publish`` exactly as the
    instrumentation, evaluators and ``peekr.feedback`` publish them.
    """
    peekr.instrument(storage=storage, path=path, providers=[])
    runtime = get_runtime()
    assert runtime is not None
    for event in sample.spans:
        runtime.publish(event.model_copy(deep=True))
    assert peekr.flush(10)
    for event in [*sample.evals, *sample.feedback]:
        runtime.publish(event)
    assert peekr.shutdown(10)


def write_db(path: Path, sample: Sample) -> None:
    """A traces.db written by the SQLite sink."""
    _write("sqlite", path, sample)


def write_jsonl(path: Path, sample: Sample) -> None:
    """A traces.jsonl written by the JSONL sink."""
    _write("jsonl", path, sample)


@pytest.fixture(scope="session")
def sample() -> Sample:
    return build()


@pytest.fixture(scope="session")
def _written(tmp_path_factory: pytest.TempPathFactory, sample: Sample) -> Path:
    """The sample written once per worker through each real sink; tests copy what they change."""
    folder = tmp_path_factory.mktemp("written")
    write_db(folder / "traces.db", sample)
    write_jsonl(folder / "traces.jsonl", sample)
    return folder


def _copy(src: Path, dest: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{src}{suffix}").exists():
            shutil.copyfile(f"{src}{suffix}", f"{dest}{suffix}")
    return dest


@pytest.fixture
def traces_db(tmp_path: Path, _written: Path) -> Path:
    """A private copy of the traces.db written by the SQLite sink."""
    return _copy(_written / "traces.db", tmp_path / "traces.db")


@pytest.fixture
def traces_jsonl(tmp_path: Path, _written: Path) -> Path:
    """A private copy of the traces.jsonl written by the JSONL sink."""
    return _copy(_written / "traces.jsonl", tmp_path / "traces.jsonl")


@pytest.fixture(params=["db", "jsonl"])
def traces(request: pytest.FixtureRequest, tmp_path: Path, _written: Path) -> Path:
    """Both storage formats (a private copy): every view/replay test runs on each."""
    name = "traces.db" if request.param == "db" else "traces.jsonl"
    return _copy(_written / name, tmp_path / name)


__all__ = ["EvalResult", "Feedback", "Result", "write_db", "write_jsonl"]
