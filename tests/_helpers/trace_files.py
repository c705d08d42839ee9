"""Trace files written like the real sinks write them, as fixtures (the CLI and store tests import them
into their conftest): the sample of :mod:`_cli_sample` through ``peekr.instrument`` + the bus, once per
worker, and a private copy per test."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

import pytest
from _cli_sample import Sample, build

import peekr
from peekr._events import EvalResult, Feedback
from peekr._runtime import get_runtime


def _write(storage: Literal["sqlite", "jsonl"], path: Path, sample: Sample) -> None:
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
    results: list[EvalResult | Feedback] = [*sample.evals, *sample.feedback]
    for result in results:
        runtime.publish(result)
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
