"""SpoolingSink: keep what could not be exported on disk and send it once the collector is back.

Each undelivered batch becomes one gzipped JSON-lines file (the ``traces.jsonl`` line format)
in the spool directory, named ``<time_ns>-<pid>-<seq>-n<events>.jsonl.gz`` so they replay
oldest first. The directory is bounded: when it is over ``max_bytes`` the oldest files are
deleted and their events counted as ``spool_full``. An app restarted during an outage finds
the files and replays them. Use one spool directory per process.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import anyio
from pydantic import ValidationError

from .._codec import event_to_json_safe
from .._events import EvalResult, Event, Feedback
from .._span import Span
from .._threads import run_sync
from ._base import Sink, WrapperSink
from ._http_errors import DropCounter, ExportGaveUp

__all__ = ["DiskSpool", "SpoolingSink"]

_NAME = re.compile(r"^\d{20}-\d+-\d+-n(\d+)\.jsonl\.gz$")


class DiskSpool:
    """A bounded directory of spooled batches (blocking file I/O; call it from a worker thread)."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._seq = 0
        self._lock = threading.Lock()

    def files(self) -> list[Path]:
        """Spooled batches, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if _NAME.match(p.name))

    def pending_events(self) -> int:
        """Events waiting on disk."""
        return sum(_count(p) for p in self.files())

    def append(self, events: Sequence[Event]) -> int:
        """Write one batch; enforce the bound; return the number of events dropped for it."""
        if not events:
            return 0
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._seq += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq}-n{len(events)}.jsonl.gz"
        data = gzip.compress(b"".join(event_to_json_safe(e) + b"\n" for e in events), compresslevel=5)
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.directory / name)
        return self._enforce_bound()

    def _enforce_bound(self) -> int:
        dropped = 0
        files = [(p, p.stat().st_size) for p in self.files()]
        total = sum(size for _, size in files)
        for path, size in files:
            if total <= self.max_bytes:
                break
            dropped += _count(path)
            path.unlink(missing_ok=True)
            total -= size
        return dropped

    @staticmethod
    def load(path: Path) -> list[Event]:
        """Read one spooled batch back into events.

        A record peekr's own models would not validate (a user attribute of an unexpected type)
        is sent as it was spooled, unvalidated: the collector judges it, record by record, so it
        can never make the file unreadable and lose its neighbours.
        """
        events: list[Event] = []
        for line in gzip.decompress(path.read_bytes()).splitlines():
            record = json.loads(line)
            kind = record.get("record")
            model: type[Span] | type[EvalResult] | type[Feedback] = (
                EvalResult if kind == "eval" else Feedback if kind == "feedback" else Span
            )
            try:
                events.append(model.model_validate(record))
            except ValidationError:
                events.append(model.model_construct(**record))
        return events


def _count(path: Path) -> int:
    match = _NAME.match(path.name)
    return int(match.group(1)) if match else 0


class SpoolingSink(WrapperSink):
    """Spool batches the inner sink gave up on (``ExportGaveUp``), replay them after a success.

    While the collector is known to be down, new batches go straight to disk instead of waiting
    out the retry deadline again; every ``probe_interval`` seconds one spooled batch is tried
    (within ``quick_probe()``, which the exporter uses to shorten the retry deadline).
    A write cancelled mid-flight (shutdown deadline) is spooled too, so it is not lost.
    """

    def __init__(
        self,
        inner: Sink,
        directory: str | os.PathLike[str],
        drops: DropCounter,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        probe_interval: float = 5.0,
        replay_files_per_write: int = 8,
        quick_probe: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        super().__init__(inner)
        self.spool = DiskSpool(directory, max_bytes)
        self.drops = drops
        self.probe_interval = probe_interval
        self.replay_files_per_write = replay_files_per_write
        self._quick_probe = quick_probe or nullcontext
        self._down_since: float | None = None
        self._last_probe = 0.0

    async def write(self, batch: Sequence[Event]) -> None:
        """Send ``batch`` (or spool it), then replay some spooled batches if the collector answers."""
        if self._down_since is not None:
            await self._spool(batch)
            if time.monotonic() - self._last_probe >= self.probe_interval:
                self._last_probe = time.monotonic()
                with self._quick_probe():  # a probe must not hold the bus for a whole retry deadline
                    await self.replay(max_files=1)
                if self._down_since is None:
                    await self.replay(max_files=self.replay_files_per_write)
            return
        handled = False
        try:
            await self.inner.write(batch)
            handled = True
        except ExportGaveUp as exc:
            handled = True
            self._mark_down(exc)
            await self._spool(exc.events)
            return
        finally:
            if not handled:  # cancelled or failed unexpectedly: keep the events for the next start
                self.drops.add("spool_full", self.spool.append(batch))
        await self.replay(max_files=self.replay_files_per_write)

    async def replay(self, max_files: int | None = None) -> int:
        """Send spooled batches oldest first until one fails; return how many files were sent."""
        sent = 0
        for path in await run_sync(self.spool.files):
            if max_files is not None and sent >= max_files:
                break
            try:
                events = await run_sync(self.spool.load, path)
            except (OSError, ValueError) as exc:
                logging.getLogger("peekr").warning("peekr: unreadable spool file %s dropped: %s", path, exc)
                self.drops.add("spool_unreadable", _count(path))
                path.unlink(missing_ok=True)
                continue
            try:
                await self.inner.write(events)
            except ExportGaveUp as exc:
                self._mark_down(exc)
                return sent
            path.unlink(missing_ok=True)
            sent += 1
            self._down_since = None
        self._down_since = None
        return sent

    async def flush(self, timeout: float | None = None) -> None:
        """Try to send what is spooled, within ``timeout``."""
        with anyio.move_on_after(timeout):
            await self.replay()
        await self.inner.flush(timeout)

    async def aclose(self) -> None:
        """Give spooled data a short last chance (what remains stays on disk), then close."""
        with anyio.move_on_after(2.0):
            await self.replay()
        await self.inner.aclose()

    async def _spool(self, events: Sequence[Event]) -> None:
        dropped = await run_sync(self.spool.append, events)
        self.drops.add("spool_full", dropped)

    def _mark_down(self, exc: ExportGaveUp) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
        self._last_probe = time.monotonic()
        self.drops.log_once(
            "spooling",
            logging.WARNING,
            "peekr: the collector is unreachable (%s); spooling spans to %s until it is back",
            exc,
            self.spool.directory,
        )
