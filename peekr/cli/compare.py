"""``peekr compare traces.db --experiment NAME``: the variants of an A/B experiment, tested against the control."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from ..store._compare import Comparison, MetricValue
from ._common import console, fail, fmt_cost, fmt_duration, parse_since, warn, working

__all__ = ["compare", "register"]


def _one(key: str, x: float) -> str:
    if key == "cost":
        return fmt_cost(x)
    if key == "tokens":
        return f"{x:,.0f}"
    if key.startswith("latency_"):
        return fmt_duration(x)
    if key == "errors":
        return f"{x * 100:.1f} %"
    if key == "feedback":
        return f"{x * 100:.0f} %"
    return f"{x:.2f}"


def _fmt(key: str, v: MetricValue) -> str:
    if v.value is None:
        return "–"
    text = _one(key, v.value)
    if v.ci_low is not None and v.ci_high is not None and v.n >= 2:
        text += f" [{_one(key, v.ci_low)}–{_one(key, v.ci_high)}]"
    if key == "feedback":
        text += f" of {v.n:,}"
    return text


def _row_label(key: str) -> str:
    from ..store._compare import metric_label

    return {"latency_p50": "latency p50", "latency_p95": "latency p95"}.get(key, metric_label(key))


def _render(result: Comparison) -> None:
    out = console()
    out.print(
        f"[bold]Experiment {escape(result.experiment)}[/] — control {escape(result.control)}; 95 % intervals in brackets"
    )
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    table.add_column("metric")
    for v in result.variants:
        table.add_column(escape(v.variant), justify="right")
    challengers = [v.variant for v in result.variants[1:]]
    for name in challengers:
        table.add_column(escape(f"{name} vs {result.control}"), justify="right")
    table.add_row("calls", *(f"{v.calls:,}" for v in result.variants), *([""] * len(challengers)))
    keys = list(result.variants[0].metrics) if result.variants else []
    tests = {(t.metric, t.variant): t for t in result.tests}
    for key in keys:
        metric = "latency" if key.startswith("latency_") else key
        cells = []
        for name in challengers:
            t = tests.get((metric, name))
            if t is None or t.p_value is None or key == "latency_p95":
                cells.append("" if key == "latency_p95" else "–")
                continue
            if t.change is None:
                change = ""
            elif t.change_kind == "absolute":
                change = f"{t.change * 100:+.1f} pp "
            else:
                change = f"{round(t.change * 100):+d} % "  # never "-0 %"
            mark = " *" if t.significant else ""
            cells.append(f"{change}p={t.p_value:.2g}{mark}")
        table.add_row(_row_label(key), *(_fmt(key, v.metrics[key]) for v in result.variants), *cells)
    out.print(table)
    used = sorted({t.test for t in result.tests if t.p_value is not None})
    if used:
        adjust = "; Holm-adjusted across variants" if len(challengers) > 1 else ""
        out.print(f"* significant at {result.alpha:g} ({', '.join(used)}{adjust})")
    for message in result.warnings:
        warn(message)
    out.print(f"[bold]Verdict:[/] {escape(result.verdict)}", soft_wrap=True)


def compare(
    path: Annotated[Path, typer.Argument(help="traces.db or traces.jsonl.", show_default=False)],
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="The experiment's name.", show_default=False)],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric", "-m", help="cost, tokens, latency, errors, feedback, scores or an eval score (repeatable)."
        ),
    ] = None,
    control: Annotated[
        str | None, typer.Option("--control", help="The variant to compare with (default: first in sorted order).")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only calls since: 30m, 2h, 7d or an ISO date.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only calls before: 30m, 2h, 7d or an ISO date.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Compare the variants of an A/B experiment: cost, tokens, latency, errors, feedback and eval scores."""
    from ..store._compare import compare_experiment, comparison_json
    from ..store._readers import TraceFileError

    lower, upper = parse_since(since), parse_since(until)
    try:
        with working(f"comparing {experiment}"):
            result = compare_experiment(path, experiment, metrics=metric, control=control, since=lower, until=upper)
    except TraceFileError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc), code=2)
    if as_json:
        console().print_json(comparison_json(result))
        for message in result.warnings:
            warn(message)
        return
    _render(result)


def register(app: typer.Typer) -> None:
    """Add the ``compare`` command to ``app``."""
    app.command("compare")(compare)
