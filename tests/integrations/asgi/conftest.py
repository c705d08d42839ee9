"""Serve a FastAPI app with uvicorn on 127.0.0.1 for the duration of a block."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from peekr.server._testing import RunningCollector, run_collector


@pytest.fixture
def serve() -> Callable[[Any], AbstractContextManager[RunningCollector]]:
    """``with serve(app) as running: httpx.get(running.url + "/...")``; the block's end runs the
    app's lifespan shutdown (uvicorn stops) before returning."""

    @contextmanager
    def start(app: Any) -> Iterator[RunningCollector]:
        with run_collector(app=app) as running:
            yield running

    return start
