"""``JSONLSink``: one JSON object per line, appended in batches off the caller's thread.

Span lines are the span itself; evaluation results and feedback are lines of their own with a
``"record"`` key (``"eval"`` / ``"feedback"``) that readers merge into their span. Each batch is
one ``write()`` on an ``O_APPEND`` descriptor, so several processes can append to the same
file without interleaving lines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .._codec import event_to_json_safe
from .._events import Event
from .._threads import run_sync

__all__ = ["JSONLSink"]


class JSONLSink:
    """Append events to a ``.jsonl`` file.

    Example:
        >>> peekr.instrument(storage="jsonl", path="traces.jsonl")  # uses this sink

    Args:
        path: The file to append to (created with its parent directory if missing).
        fsync: Also ``fsync`` on ``flush()`` (slower, survives power loss).
    """

    name = "jsonl"

    def __init__(self, path: str | os.PathLike[str] = "traces.jsonl", *, fsync: bool = False) -> None:
        self.path = os.fspath(path)
        if not self.path:
            raise ValueError("JSONLSink needs a file path, got an empty string")
        self.fsync = fsync
        self._fd: int | None = None
        self._pid = 0

    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._pid = os.getpid()
        return self._fd

    def _write_sync(self, data: bytes) -> None:
        fd = self._open()
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    async def write(self, batch: Sequence[Event]) -> None:
        """Encode the batch and append it in one write."""
        data = b"".join(event_to_json_safe(event) + b"\n" for event in batch)
        await run_sync(self._write_sync, data)

    async def flush(self, timeout: float | None = None) -> None:
        """Writes go straight to the OS; with ``fsync=True`` also to the disk."""
        if self.fsync and self._fd is not None:
            await run_sync(os.fsync, self._fd)

    async def aclose(self) -> None:
        """Close the file."""
        await self.flush()
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None
