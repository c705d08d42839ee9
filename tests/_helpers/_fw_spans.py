"""Helpers for the framework tests: recorded spans and their parent/child tree."""

from __future__ import annotations

from typing import Any

import peekr
from peekr._span import Span
from peekr.sinks.memory import InMemorySink


def recorded(sink: InMemorySink) -> list[Span]:
    """Every span recorded so far (after a flush)."""
    assert peekr.flush(timeout=10)
    return list(sink.spans)


def tree(spans: list[Span]) -> list[str]:
    """The parent/child tree as indented lines ``name [run_name]``, children in start order."""
    by_parent: dict[str | None, list[Span]] = {}
    for span in sorted(spans, key=lambda s: s.start_time):
        by_parent.setdefault(span.parent_id, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in by_parent.get(parent, []):
            label = span.name
            attrs: dict[str, Any] = dict(span.attributes)
            if "run_name" in attrs:
                label += f" [{attrs['run_name']}]"
            lines.append("  " * depth + label)
            walk(span.span_id, depth + 1)

    walk(None, 0)
    assert len(lines) == len(spans), "a span's parent is missing from the trace"
    return lines
