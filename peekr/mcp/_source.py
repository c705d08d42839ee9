"""Where the MCP tools read spans from: a local ``traces.db`` / ``traces.jsonl`` (read-only)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio.to_thread

from ..store._cost import cost_report
from ..store._readers import JSONLTraces, SpanFilter, TraceFileError, Traces, open_traces
from ._shape import ToolArgumentError

__all__ = ["LocalSource", "Query", "Source", "TraceNotFound"]

SpanDict = dict[str, Any]


class TraceNotFound(ToolArgumentError):
    """No trace with that id (for this tenant)."""


@dataclass(frozen=True)
class Query:
    """Span filters the tools accept; ``None`` matches everything (``name`` is a prefix or glob)."""

    name: str | None = None
    model: str | None = None
    status: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    feature: str | None = None
    endpoint: str | None = None
    since: str | None = None
    until: str | None = None

    def matches(self, span: SpanDict) -> bool:
        """Whether ``span`` passes every filter (what a reader could not filter itself)."""
        attrs = span.get("attributes") or {}
        if self.until is not None and str(span.get("start_time", "")) >= self.until:
            return False
        if self.feature is not None and attrs.get("feature") != self.feature:
            return False
        if self.endpoint is not None and attrs.get("endpoint") != self.endpoint:
            return False
        return SpanFilter(
            session_id=self.session_id,
            user_id=self.user_id,
            model=self.model,
            status=self.status,
            since=self.since,
            name=self.name,
        ).matches(span)


class Source(Protocol):
    """What the tools need from a store of spans."""

    #: Where the spans come from, as shown in answers (a file name, or "collector").
    label: str

    async def spans(self, query: Query, limit: int) -> tuple[list[SpanDict], bool]:
        """Up to ``limit`` matching spans, newest first, and whether more matched than were read."""
        ...

    async def trace(self, trace_id: str) -> tuple[str, list[SpanDict], list[dict[str, Any]]]:
        """``(full id, spans oldest first, feedback)`` of the trace an id or unique prefix names.

        Raises:
            TraceNotFound: no such trace.
            ToolArgumentError: the prefix names several traces.
        """
        ...

    async def cost(self, query: Query, by: str) -> dict[str, Any]:
        """Calls, tokens and cost per ``by`` group over the spans ``query`` selects."""
        ...


class LocalSource:
    """A trace file opened read-only per call in a worker thread (a JSONL file is re-read when it changes)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.label = self.path.name
        self._jsonl: tuple[tuple[int, int], JSONLTraces] | None = None
        self._lock = threading.Lock()
        with self._open() as store:  # fail now, with the reader's one-line message, on a bad file
            store.count()

    @contextmanager
    def _open(self) -> Iterator[Traces]:
        """The file's reader: a fresh SQLite connection, or the JSONL file read once per change."""
        try:
            stat = self.path.stat()
        except OSError:
            stat = None
        if stat is not None:
            with self._lock:
                cached = self._jsonl
            if cached is not None and cached[0] == (stat.st_mtime_ns, stat.st_size):
                yield cached[1]
                return
        store = open_traces(self.path, warn=lambda _msg: None)  # raises TraceFileError with the reason
        if isinstance(store, JSONLTraces):
            if stat is not None:
                with self._lock:
                    self._jsonl = ((stat.st_mtime_ns, stat.st_size), store)
            yield store
            return
        with store:
            yield store

    async def spans(self, query: Query, limit: int) -> tuple[list[SpanDict], bool]:
        """See ``Source.spans``."""
        return await anyio.to_thread.run_sync(self._spans, query, limit)

    def _spans(self, query: Query, limit: int) -> tuple[list[SpanDict], bool]:
        flt = SpanFilter(
            session_id=query.session_id,
            user_id=query.user_id,
            model=query.model,
            status=query.status,
            since=query.since,
            name=query.name,
        )
        out: list[SpanDict] = []
        with self._open() as store:
            offset, page_size = 0, 500
            while True:
                page = store.query(flt, limit=page_size, offset=offset)
                for span in page.spans:
                    if query.matches(span):
                        if len(out) >= limit:
                            return out, True
                        out.append(span)
                offset += page_size
                if offset >= page.total or not page.spans:
                    return out, False

    async def trace(self, trace_id: str) -> tuple[str, list[SpanDict], list[dict[str, Any]]]:
        """See ``Source.trace``."""
        return await anyio.to_thread.run_sync(self._trace, trace_id)

    def _trace(self, trace_id: str) -> tuple[str, list[SpanDict], list[dict[str, Any]]]:
        with self._open() as store:
            try:
                full = store.resolve_trace_id(trace_id.strip())
            except TraceFileError as exc:
                raise ToolArgumentError(str(exc).split(": ", 1)[-1]) from None
            if full is None:
                recent = store.recent_trace_ids(3)
                hint = f"; most recent: {', '.join(recent)}" if recent else ""
                raise TraceNotFound(f"no trace {trace_id!r} in {self.label}{hint}")
            return full, store.trace(full), store.feedback(full)

    async def cost(self, query: Query, by: str) -> dict[str, Any]:
        """See ``Source.cost``: what ``peekr cost`` reports (``peekr.store._cost.cost_report``), exact."""
        report = await anyio.to_thread.run_sync(
            lambda: cost_report(self.path, by=[by], since=query.since, until=query.until)
        )
        rows = [
            {
                "group": group.key[0] if group.key[0] is not None else "(none)",
                "calls": group.calls,
                "priced_calls": group.priced_calls,
                "unpriced_calls": group.unpriced_calls,
                "tokens_total": group.tokens_total,
                "cost_usd": group.cost_usd,
            }
            for group in report.groups
        ]
        return {
            "by": by,
            "total_cost_usd": report.total.cost_usd,
            "calls": report.total.calls,
            "unpriced_calls": report.total.unpriced_calls,
            "rows": rows,
        }
