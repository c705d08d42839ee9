"""``peekr cost traces.db --by model``: calls, tokens and cost, grouped; unpriced calls counted apart."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

if TYPE_CHECKING:
    from ..store._cost import CostGroup

from ._common import console, err_console, fail, fmt_cost, parse_since, plural, warn

__all__ = ["cost", "register"]

#: ``peekr.store._cost.DIMENSIONS`` (not imported here: `peekr --help` stays fast; a test keeps them equal).
DIMENSIONS = ("model", "tenant", "user", "feature", "endpoint", "day")


def _cost_cell(group: CostGroup) -> str:
    if group.priced_calls == 0:
        return "unpriced"
    return fmt_cost(group.cost_usd) or "$0"


def cost(
    path: Annotated[Path, typer.Argument(help="traces.db or traces.jsonl.", show_default=False)],
    by: Annotated[
        list[str] | None,
        typer.Option("--by", help=f"Group by {', '.join(DIMENSIONS)} (repeatable: --by model --by day)."),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only calls since: 30m, 2h, 7d or an ISO date.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only calls before: 30m, 2h, 7d or an ISO date.")] = None,
    top: Annotated[int | None, typer.Option("--top", help="Show the N most expensive groups; sum the rest.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Where the money goes: LLM calls, tokens and cost, grouped by model, tenant, user, feature, endpoint or day."""
    from ..store._cost import cost_report
    from ..store._readers import TraceFileError

    for d in by or []:
        if d not in DIMENSIONS:
            raise typer.BadParameter(f"{d!r}; expected one of: {', '.join(DIMENSIONS)}", param_hint="--by")
    if top is not None and top < 1:
        raise typer.BadParameter(f"{top}; expected a number >= 1", param_hint="--top")
    lower = parse_since(since)
    upper = parse_since(until)
    if lower is not None and upper is not None and lower >= upper:
        fail(f"--since ({since}) is not before --until ({until}): no time range left")
    errs = err_console()
    bar = Progress(
        TextColumn(f"reading {path.name}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        console=errs,
        transient=True,
        disable=not errs.is_terminal,
    )
    try:
        with bar:
            task = bar.add_task("read", total=1.0)
            report = cost_report(
                path,
                by=by or [],
                since=lower,
                until=upper,
                top=top,
                progress=lambda done: bar.update(task, completed=done),
            )
    except TraceFileError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc), code=2)
    out = console()
    if as_json:
        out.print_json(report.to_json())
        return
    total = report.total
    if total.calls == 0:
        out.print("No LLM calls in this time range." if (since or until) else "No LLM calls in this file.")
        return
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    for d in report.by:
        table.add_column(d)
    for title in ("calls", "unpriced", "tokens in", "tokens out", "cost"):
        table.add_column(title, justify="right")

    def row(keys: list[str], g: CostGroup, style: str | None = None) -> None:
        table.add_row(
            *keys,
            f"{g.calls:,}",
            f"{g.unpriced_calls:,}" if g.unpriced_calls else "",
            f"{g.tokens_input:,}",
            f"{g.tokens_output:,}",
            _cost_cell(g),
            style=style,
        )

    for g in report.groups:
        row([k if k is not None else "–" for k in g.key], g)
    if report.rest is not None:
        row([f"({report.other_groups:,} more)"] + [""] * (len(report.by) - 1), report.rest, "dim")
    if report.by:
        table.add_section()
        row(["total"] + [""] * (len(report.by) - 1), total, "bold")
        out.print(table)
    else:
        out.print(table)
    priced = f"{fmt_cost(total.cost_usd) or '$0'} over {plural(total.priced_calls, 'priced call')}"
    line = f"Total {priced}; {plural(total.calls, 'LLM call')}, {total.tokens_total:,} tokens."
    out.print(line)
    if total.unpriced_calls:
        warn(
            f"{plural(total.unpriced_calls, 'call')} had no price (model not in the price table) and are not in "
            "the cost; add prices with peekr.set_prices({...})"
        )


def register(app: typer.Typer) -> None:
    """Add the ``cost`` command to ``app``."""
    app.command("cost")(cost)
