"""Collector fixtures: a fresh database on each backend and a real uvicorn collector on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from collector_helpers import database

from peekr.server import ServerSettings
from peekr.server._testing import RunningCollector, run_collector


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh collector database: a SQLite file, or a new PostgreSQL database."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def start_collector(db: str) -> Callable[..., AbstractContextManager[RunningCollector]]:
    """Start a real collector on ``db``; keyword arguments override ServerSettings."""

    def start(**overrides: Any) -> AbstractContextManager[RunningCollector]:
        settings = ServerSettings(**{"db": db, "rate_limit": 0, "purge_interval_s": 0, **overrides})
        return run_collector(settings)

    return start


@pytest.fixture
def collector(start_collector: Callable[..., AbstractContextManager[RunningCollector]]) -> Iterator[RunningCollector]:
    """A collector with default limits, no rate limit and no scheduled purge."""
    with start_collector() as running:
        yield running
