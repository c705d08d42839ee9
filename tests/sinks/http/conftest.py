"""Exporter fixtures: a real collector (uvicorn, SQLite) behind an optional fault injector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_helpers import new_key
from exporter_helpers import Collector, start


@pytest.fixture
def collector_db(tmp_path: Path) -> str:
    return str(tmp_path / "collector.db")


@pytest.fixture
def collector(collector_db: str) -> Iterator[Collector]:
    """A real collector (SQLite) with a fault injector in front."""
    key, read = new_key(collector_db, "acme"), new_key(collector_db, "acme", "read")
    faults, ctx = start(collector_db)
    with ctx as running:
        yield Collector(running, collector_db, faults, key, read)


@pytest.fixture
def keys(collector_db: str) -> tuple[str, str]:
    """An ingest key and a read key of tenant acme on ``collector_db`` (made before any loop runs)."""
    return new_key(collector_db, "acme"), new_key(collector_db, "acme", "read")
