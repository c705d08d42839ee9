"""Shared fixtures: both async backends, an isolated peekr per test, loud internal errors."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Internal errors re-raise in tests instead of being logged and swallowed (STYLE rule 3).
os.environ["PEEKR_RAISE_INTERNAL_ERRORS"] = "1"

import peekr
from peekr._errors import inject_faults, internal_error_count
from peekr.sinks.memory import InMemorySink

_ENV = (
    "PEEKR_TENANT_ID",
    "PEEKR_RETENTION_CLASS",
    "PEEKR_STORAGE",
    "PEEKR_PATH",
    "PEEKR_CAPTURE_CONTENT",
    "PEEKR_CONSOLE",
)


@pytest.fixture(params=[pytest.param(("asyncio", {"debug": True}), id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> object:
    """Run every async test on asyncio (debug mode) and on trio."""
    return request.param


@pytest.fixture(autouse=True)
def _isolated_peekr(
    request: pytest.FixtureRequest, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Each test runs in its own directory (so default traces.db/jsonl land there) and ends with
    peekr shut down. A test in which peekr swallowed an internal error fails, unless marked
    ``swallows_internal_errors``."""
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    marked = request.node.get_closest_marker("swallows_internal_errors") is not None
    if marked:
        monkeypatch.setenv("PEEKR_RAISE_INTERNAL_ERRORS", "0")
    before = internal_error_count()
    try:
        yield
    finally:
        inject_faults(False)
        peekr.shutdown(timeout=5)
    if not marked:
        assert internal_error_count() == before, "peekr swallowed an internal error during this test"


@pytest.fixture
def memory_sink() -> InMemorySink:
    """peekr running with every installed provider patched, recording into memory."""
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    return sink
