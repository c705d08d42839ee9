"""``peekr view traces.db|traces.jsonl``: spans as a table, newest first, paged and filtered."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ._common import (
    claim_line,
    console,
    content_text,
    fail,
    fmt_cost,
    fmt_duration,
    fmt_scores,
    fmt_time,
    fmt_tokens,
    opened,
    parse_since,
    plural,
)
from ._layout import Column
from ._layout import table as layout_table

if TYPE_CHECKING:
    from ..store._readers import Page

__all__ = ["register", "view"]

_IO_LIMIT = 300


def view(
    path: Annotated[Path, typer.Argument(help="traces.db or traces.jsonl", show_default=False)],
    io: Annotated[bool, typer.Option("--io", help="Show each span's input and output.")] = False,
    full: Annotated[bool, typer.Option("--full", help="With --io: do not truncate inputs and outputs.")] = False,
    trace: Annotated[str | None, typer.Option("--trace", help="Only this trace (full id or a prefix).")] = None,
    session: Annotated[str | None, typer.Option("--session", help="Only this session_id.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user_id.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant_id.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model (glob allowed: 'gpt-4o*').")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only 'ok' or 'error' spans.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only spans started in the last 30m / 2h / 7d, or since an ISO date.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Span name, prefix or glob ('openai.chat', 'bedrock.*').")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Spans per page.")] = 50,
    page: Annotated[int, typer.Option("--page", "-p", min=1, help="Page number (1 = newest spans).")] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per span (JSON Lines), for scripts.")
    ] = False,
) -> None:
    """Show spans newest first: time, trace, name, model, tokens, cost, duration, status, scores."""
    if status is not None and status not in ("ok", "error"):
        raise typer.BadParameter(f"{status!r}; expected 'ok' or 'error'", param_hint="--status")
    from ..store._readers import SpanFilter  # not at import: keeps `peekr --help` fast

    flt = SpanFilter(
        trace_id=trace.lower() if trace else None,
        session_id=session,
        user_id=user,
        tenant_id=tenant,
        model=model,
        status=status,
        since=parse_since(since),
        name=name,
    )
    with opened(path) as store:
        result = store.query(flt, limit=limit, offset=(page - 1) * limit)
        if result.total == 0 and store.count() == 0:
            fail(f"{path}: no spans recorded yet")
    if as_json:
        _print_json(result)
        return
    out = console()
    if not result.spans:
        if result.total:
            fail(f"page {page} is past the end: {plural(result.total, 'span')} match, {limit} per page")
        out.print("No spans match these filters.")
        return
    if io:
        _print_io(out, result, None if full else _IO_LIMIT)
    else:
        out.print(_table(result, out.width))
    _footer(out, result, limit, page)


def _print_json(result: Page) -> None:
    write = sys.stdout.write
    for span in result.spans:
        write(json.dumps(span, ensure_ascii=False, default=str) + "\n")


#: The ``view`` table, in display order. On a narrow terminal time, model, tokens and trace are
#: dropped (in that order) before a name up to 30 characters or a score has to wrap; cost,
#: duration, status, name and scores are always shown (docs/cli.md, "Narrow terminals").
_COLUMNS = (
    Column("time (UTC)", drop=1),
    Column("trace", drop=4),
    Column("name", wrap=True, min_width=30),
    Column("model", wrap=True, min_width=12, drop=2),
    Column("tokens", justify="right", drop=3),
    Column("cost", justify="right"),
    Column("duration", justify="right"),
    Column("status"),
    Column("scores", wrap=True),
)
_SCORES = len(_COLUMNS) - 1


def _table(result: Page, width: int) -> Table:
    trace_chars = 12 if width >= 100 else 8  # a prefix this long is enough for `peekr replay`
    rows = [_cells(span, trace_chars) for span in result.spans]
    columns = list(_COLUMNS)
    # Scores wrap between scores, never inside one.
    longest = max((len(part) for row in rows for part in str(row[_SCORES]).split()), default=0)
    columns[_SCORES] = Column("scores", wrap=True, min_width=max(longest, len("scores")))
    if not any(row[_SCORES] for row in rows):  # no evaluations on this page: no empty column
        columns, rows = columns[:_SCORES], [row[:_SCORES] for row in rows]
    return layout_table(columns, rows, width)


def _cells(span: dict[str, Any], trace_chars: int = 12) -> list[str | Text]:
    attrs = span.get("attributes") or {}
    status = Text(span.get("status", ""), style="red" if span.get("status") == "error" else "green")
    return [
        fmt_time(span.get("start_time")),
        span["trace_id"][:trace_chars],
        span.get("name", ""),
        str(attrs.get("model") or ""),
        fmt_tokens(attrs),
        fmt_cost(attrs.get("cost_usd")),
        fmt_duration(span.get("duration_ms")),
        status,
        fmt_scores(attrs),
    ]


def _print_io(out: Any, result: Page, limit: int | None) -> None:
    for span in result.spans:
        attrs = span.get("attributes") or {}
        cells = [c.plain if isinstance(c, Text) else c for c in _cells(span)]
        header = "  ".join(c for c in cells if c)
        out.print(Text(header, style="bold red" if span.get("status") == "error" else "bold"))
        for label, key in (("input", "input"), ("output", "output")):
            if attrs.get(key) is not None:
                text = Text(f"  {label}: ", style="cyan") + Text(_indent(content_text(attrs[key], limit)))
                out.print(text, soft_wrap=True)
        if attrs.get("tool_calls"):
            text = Text("  tool calls: ", style="cyan") + Text(content_text(attrs["tool_calls"], limit))
            out.print(text, soft_wrap=True)
        error = attrs.get("error")
        if isinstance(error, dict):
            out.print(Text(f"  error: {error.get('type', '')}: {error.get('message', '')}", style="red"))
        for detail in attrs.get("hallucination_details") or []:  # the claims the answer's context does not support
            if isinstance(detail, dict) and detail.get("verdict") != "supported":
                out.print(Text("  " + claim_line(detail), style="yellow"), soft_wrap=True)
        out.print()


def _indent(text: str) -> str:
    return text.replace("\n", "\n          ")


def _footer(out: Any, result: Page, limit: int, page: int) -> None:
    first = result.offset + 1
    last = result.offset + len(result.spans)
    line = f"spans {first}–{last} of {result.total:,}, newest first"
    if last < result.total:
        line += f"; next page: --page {page + 1}"
    out.print(Text(line, style="dim"))


def register(app: typer.Typer) -> None:
    """Add the ``view`` command to ``app``."""
    app.command("view")(view)
