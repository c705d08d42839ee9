"""``peekr replay <trace_id> --db traces.db``: one trace as a waterfall, stepped through on a terminal."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.panel import Panel
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
    fmt_tokens,
    opened,
    plural,
)
from ._layout import GAP, Cell, Column, fit, natural_widths
from ._layout import table as layout_table

__all__ = ["register", "replay", "waterfall_rows"]

_BAR_WIDTH = 40
_IO_LIMIT = 500


def replay(
    trace_id: Annotated[
        str, typer.Argument(help="Trace id (or a unique prefix), as shown by `peekr view`.", show_default=False)
    ],
    db: Annotated[Path, typer.Option("--db", help="traces.db or traces.jsonl to read.")] = Path("traces.db"),
    io: Annotated[bool, typer.Option("--io", help="Show each span's input and output.")] = False,
    full: Annotated[bool, typer.Option("--full", help="With --io: do not truncate inputs and outputs.")] = False,
    interactive: Annotated[
        bool,
        typer.Option("--interactive/--no-interactive", help="Step through spans one at a time (only on a terminal)."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="The trace's spans as JSON Lines, oldest first.")] = False,
) -> None:
    """Replay a whole trace as a waterfall: span tree, timing bars to scale, model, tokens, cost, status."""
    with opened(db) as store:
        full_id = store.resolve_trace_id(trace_id.strip())
        if full_id is None:
            recent = store.recent_trace_ids(3)
            hint = "Find trace ids with `peekr view " + str(db) + "` (the trace column) or `peekr view " + str(db)
            hint += " --json`."
            if recent:
                hint += " Most recent: " + ", ".join(recent)
            fail(f"no trace {trace_id!r} in {db}", hint=hint)
        spans = store.trace(full_id)
        feedback = store.feedback(full_id)
    if as_json:
        for span in spans:
            sys.stdout.write(json.dumps(span, ensure_ascii=False, default=str) + "\n")
        return
    out = console()
    rows = waterfall_rows(spans)
    out.print(_header(full_id, spans, feedback, out.width))
    out.print(_waterfall(rows, out.width))
    limit = None if full else _IO_LIMIT
    if io and not _is_interactive(interactive):
        for depth, span, _, _ in rows:
            out.print(_details(span, depth, limit))
    if _is_interactive(interactive):
        _step(out, rows, limit)


def _is_interactive(wanted: bool) -> bool:
    return wanted and sys.stdout.isatty() and sys.stdin.isatty()


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def waterfall_rows(spans: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any], float, float]]:
    """Order spans as a depth-first tree; return ``(depth, span, offset_ms, duration_ms)`` rows.

    A span whose parent is not in the trace (lost, or still being written) is shown as a root.
    """
    if not spans:
        return []
    t0 = min(_ts(s["start_time"]) for s in spans)
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span.get("parent_id") if span.get("parent_id") in ids else None
        children.setdefault(parent, []).append(span)
    rows: list[tuple[int, dict[str, Any], float, float]] = []
    stack = [(0, s) for s in sorted(children.get(None, []), key=lambda s: s["start_time"], reverse=True)]
    while stack:
        depth, span = stack.pop()
        rows.append((depth, span, (_ts(span["start_time"]) - t0) * 1000, float(span.get("duration_ms") or 0)))
        kids = sorted(children.get(span["span_id"], []), key=lambda s: s["start_time"])
        stack.extend((depth + 1, kid) for kid in reversed(kids))
    return rows


def _header(trace_id: str, spans: list[dict[str, Any]], feedback: list[dict[str, Any]], width: int) -> Text:
    total_cost = sum(
        s["attributes"].get("cost_usd") or 0 for s in spans if isinstance(s["attributes"].get("cost_usd"), (int, float))
    )
    tokens = sum(
        s["attributes"].get("tokens_total") or 0 for s in spans if isinstance(s["attributes"].get("tokens_total"), int)
    )
    errors = sum(1 for s in spans if s.get("status") == "error")
    start = min(s["start_time"] for s in spans)
    end = max(s["end_time"] for s in spans)
    wall = (_ts(end) - _ts(start)) * 1000
    text = Text()
    text.append(f"trace {trace_id}", style="bold")
    text.append(f"  {start[:19].replace('T', ' ')} UTC")
    stats = Text(
        f"{plural(len(spans), 'span')}  {fmt_duration(wall)}  {tokens:,} tokens  {fmt_cost(total_cost) or '$?'}"
    )
    if errors:
        stats.append(f"  {errors} error{'s' if errors > 1 else ''}", style="red")
    fits = len(text) + 2 + len(stats) <= width
    text.append("  " if fits else "\n")
    text.append_text(stats)
    if feedback:
        last = feedback[-1]
        text.append(
            f"\nfeedback: {last.get('rating') or ''} {_score(last.get('score'))} {last.get('note') or ''}".rstrip()
        )
        if len(feedback) > 1:
            text.append(f" (latest of {len(feedback)})")
    return text


def _score(value: object) -> str:
    return f"score={value:g}" if isinstance(value, (int, float)) else ""


#: The waterfall, in display order. On a narrow terminal tokens (the header has the total), then
#: the timeline, then model are dropped, in that order, before a span name has to wrap; cost,
#: status and duration are always shown (docs/cli.md, "Narrow terminals").
_COLUMNS = (
    Column("#", justify="right"),
    Column("span", wrap=True),
    Column("model", wrap=True, min_width=12, drop=3),
    Column("tokens", justify="right", drop=1),
    Column("cost", justify="right"),
    Column("status"),
    Column("duration", justify="right"),
)
_TIMELINE_MIN = 8


def _waterfall(rows: list[tuple[int, dict[str, Any], float, float]], width: int) -> Table:
    total = max((offset + dur for _, _, offset, dur in rows), default=0.0) or 1.0
    cells: list[list[Cell]] = []
    for index, (depth, span, _, dur) in enumerate(rows, 1):
        attrs = span.get("attributes") or {}
        error = span.get("status") == "error"
        cells.append(
            [
                str(index),
                Text("  " * depth + ("└ " if depth else "") + span.get("name", "")),
                str(attrs.get("model") or ""),
                fmt_tokens(attrs),
                fmt_cost(attrs.get("cost_usd")),
                Text(span.get("status", ""), style="red" if error else "green"),
                fmt_duration(dur),
            ]
        )
    longest_name = max((len(cell[1]) for cell in cells), default=0)  # with its tree indent
    columns = [*_COLUMNS, Column("timeline", wrap=True, min_width=_TIMELINE_MIN, drop=2)]
    columns[1] = Column("span", wrap=True, min_width=min(30, max(longest_name, 4)))
    kept = fit(columns, [[*row, " " * _BAR_WIDTH] for row in cells], width)
    natural = natural_widths(columns[:-1], cells)
    others = sum(natural[i] for i in kept if i < len(_COLUMNS)) + GAP * (len(kept) - 1)
    bar_width = max(_TIMELINE_MIN, min(_BAR_WIDTH, width - others))
    header = f"timeline (0 – {fmt_duration(total)})"
    columns[-1] = Column(header if len(header) <= bar_width else f"0–{fmt_duration(total)}")
    for row, (_, span, offset, dur) in zip(cells, rows, strict=True):
        row.append(_bar(offset, dur, total, bar_width, span.get("status") == "error"))
    return layout_table(columns, cells, width, kept=kept)


def _bar(offset: float, dur: float, total: float, width: int, error: bool) -> Text:
    start_col = int(offset / total * width)
    length = max(1, round(dur / total * width))
    start_col = min(start_col, width - length)
    bar = Text(" " * start_col) + Text("█" * length, style="red" if error else "cyan")
    return bar + Text(" " * (width - start_col - length))


def _details(span: dict[str, Any], depth: int, limit: int | None) -> Panel:
    attrs = span.get("attributes") or {}
    lines: list[Text] = []
    meta = [
        f"span {span['span_id']}",
        f"parent {span.get('parent_id') or '-'}",
        f"start {span['start_time']}",
        fmt_duration(span.get("duration_ms")),
    ]
    if attrs.get("ttft_ms") is not None:
        meta.append(f"ttft {fmt_duration(attrs['ttft_ms'])}")
    if attrs.get("finish_reason"):
        meta.append(f"finish {attrs['finish_reason']}")
    lines.append(Text("  ".join(meta), style="dim"))
    scores = fmt_scores(attrs)
    if scores:
        lines.append(Text(f"scores: {scores}"))
    for key in ("input", "output", "tool_calls"):
        if attrs.get(key) is not None:
            lines.append(Text(f"{key}: ", style="cyan") + Text(content_text(attrs[key], limit)))
    error = attrs.get("error")
    if isinstance(error, dict):
        lines.append(Text(f"error: {error.get('type', '')}: {error.get('message', '')}", style="red"))
    for detail in attrs.get("hallucination_details") or []:
        if isinstance(detail, dict):
            lines.append(Text(claim_line(detail)))
    title = f"{span.get('name', '')}" + (f" · {attrs['model']}" if attrs.get("model") else "")
    return Panel(
        Group(*lines), title=title, title_align="left", border_style="red" if span.get("status") == "error" else "dim"
    )


def _step(out: Console, rows: list[tuple[int, dict[str, Any], float, float]], limit: int | None) -> None:
    index = 0
    while rows:
        depth, span, _, _ = rows[index]
        out.print(Text(f"[{index + 1}/{len(rows)}]", style="bold"), _details(span, depth, limit))
        try:
            answer = input("Enter/n next · p previous · number to jump · q quit > ").strip().lower()
        except EOFError:
            return
        if answer in ("q", "quit", "exit"):
            return
        if answer == "p":
            index = max(0, index - 1)
        elif answer.isdigit() and 1 <= int(answer) <= len(rows):
            index = int(answer) - 1
        elif index + 1 >= len(rows):
            return
        else:
            index += 1


def register(app: typer.Typer) -> None:
    """Add the ``replay`` command to ``app``."""
    app.command("replay")(replay)
