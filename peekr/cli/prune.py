"""``peekr prune traces.db``: delete spans past their retention class's number of days."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ._common import console, fail, plural, working

__all__ = ["prune", "register"]


def _parse_days(values: list[str]) -> dict[str, float]:
    days: dict[str, float] = {}
    for item in values:
        klass, sep, number = item.partition("=")
        try:
            if not sep:
                raise ValueError
            days[klass.strip()] = float(number)
        except ValueError:
            raise typer.BadParameter(f"{item!r}; expected CLASS=DAYS, e.g. short=3", param_hint="--days") from None
    return days


def prune(
    db: Annotated[Path, typer.Argument(help="traces.db to prune.", show_default=False)],
    days: Annotated[
        list[str] | None,
        typer.Option("--days", help="Override a class's days, e.g. --days short=3 --days pii=0.5 (repeatable)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted; change nothing.")] = False,
) -> None:
    """Delete spans older than their retention class allows (pii 1 d, short 7 d, default 30 d, long 365 d)."""
    from ..store._prune import prune as prune_db
    from ..store._readers import TraceFileError

    try:
        with working(f"{'counting' if dry_run else 'pruning'} {db.name}"):
            summary = prune_db(db, days=_parse_days(days or []), dry_run=dry_run)
    except TraceFileError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc), code=2)
    out = console()
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    table.add_column("retention class")
    table.add_column("keeps", justify="right")
    table.add_column("would delete" if dry_run else "deleted", justify="right")
    for klass, keep in summary.days.items():
        table.add_row(klass, f"{keep:g} d", f"{summary.spans.get(klass, 0):,}")
    out.print(table)
    verb = "Would delete" if dry_run else "Deleted"
    remain = summary.remaining - (summary.total if dry_run else 0)
    out.print(
        f"{verb} {plural(summary.total, 'span')}, {plural(summary.eval_results, 'evaluation result')} and "
        f"{plural(summary.feedback, 'feedback record')}; {plural(remain, 'span')} "
        f"{'remains' if remain == 1 else 'remain'}."
    )
    if dry_run:
        out.print("Dry run: nothing was deleted. Run again without --dry-run to delete.")


def register(app: typer.Typer) -> None:
    """Add the ``prune`` command to ``app``."""
    app.command("prune")(prune)
