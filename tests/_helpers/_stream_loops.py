"""An SDK release whose stream loops are not the ones Peekr copies: the same loops behind a wrapper generator.

``unknown_sdk_loops(monkeypatch, Stream, AsyncStream, module)`` replaces ``Stream.__stream__`` and
``AsyncStream.__stream__`` with generators that run the originals (so the SDK behaves as before, but the code
objects are not the ones Peekr checks), and clears ``module._sdk`` so the next stream decides again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest


def unknown_sdk_loops(monkeypatch: pytest.MonkeyPatch, stream: type, async_stream: type, module: Any) -> None:
    """Wrap the SDK's loops for this test (undone by ``monkeypatch``); ``module`` is the one holding ``_sdk``."""
    sync_loop, async_loop = stream.__stream__, async_stream.__stream__  # type: ignore[attr-defined]

    def __stream__(self: Any) -> Iterator[Any]:
        yield from sync_loop(self)

    async def __astream__(self: Any) -> AsyncIterator[Any]:
        async for item in async_loop(self):
            yield item

    monkeypatch.setattr(stream, "__stream__", __stream__)
    monkeypatch.setattr(async_stream, "__stream__", __astream__)
    monkeypatch.setattr(module, "_sdk", None)  # decided again on the next stream (and after the test)
