"""``peekr dashboard traces.db -o report.html``: one self-contained HTML report (charts inlined, no network)."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .._version import __version__
from ._common import console, err_console, fail, plural

__all__ = ["dashboard", "register", "render_html"]


def _static(name: str) -> str:
    return resources.files("peekr.cli").joinpath("_static").joinpath(name).read_text(encoding="utf-8")


def render_html(data: dict[str, Any]) -> str:
    """Return the report page with the data, ECharts, the styles and the app inlined."""
    # </script> inside the JSON would end the script element early; \u003c keeps it inert.
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).replace("<", "\\u003c")
    page = _static("dashboard.html")
    title = f"Peekr report — {data.get('source', '')}".replace("&", "&amp;").replace("<", "&lt;")
    for marker, value in (
        ("/*PEEKR_STYLE*/", _static("dashboard.css")),
        ("/*PEEKR_TITLE*/", title),
        ("/*PEEKR_VERSION*/", __version__),
        ("/*PEEKR_GENERATED*/", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
        ("/*PEEKR_DATA*/", payload),
        ("/*PEEKR_ECHARTS*/", _static("echarts.min.js")),
        ("/*PEEKR_APP*/", _static("dashboard.js")),
    ):
        page = page.replace(marker, value)
    return page


def dashboard(
    db: Annotated[Path, typer.Argument(help="traces.db to report on.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("report.html"),
) -> None:
    """Write a self-contained HTML report: totals, cost and tokens over time, latency, errors, scores, worst offenders."""
    from ..store._export import write_atomic
    from ..store._readers import TraceFileError
    from ._dashboard_data import collect

    if db.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        fail(
            f"{db}: the dashboard reads a SQLite traces.db (use peekr.instrument(storage='sqlite')); "
            "`peekr view` reads JSONL files"
        )
    if not db.exists():
        fail(f"{db}: no such file")
    if db.stat().st_size == 0:
        fail(f"{db}: empty file (no spans recorded yet)")
    errs = err_console()
    progress = Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=errs,
        transient=True,
        disable=not errs.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def report(step: str, done: float) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(step, total=1.0)
        progress.update(tasks[step], completed=done)

    started = time.perf_counter()
    try:
        with progress:
            data = collect(db, report)
    except TraceFileError as exc:
        fail(str(exc))
    html = render_html(data)
    write_atomic(output, html)
    totals = data["totals"]
    console().print(
        f"Wrote {output} ({len(html.encode()) / 1024:,.0f} KiB) from {plural(totals['spans'], 'span')} "
        f"in {time.perf_counter() - started:.1f} s. Open it in any browser; it needs no network."
    )


def register(app: typer.Typer) -> None:
    """Add the ``dashboard`` command to ``app``."""
    app.command("dashboard")(dashboard)
