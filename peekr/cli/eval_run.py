"""``peekr eval run DATASET.jsonl --app module:function``: evaluate an app offline and gate CI on it."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["eval_run", "parse_evaluator", "parse_minimums"]

_EVALUATOR_HELP = (
    "hallucination | not_empty | max_length:N | regex:PATTERN | no_regex:PATTERN | json_schema:FILE | "
    "module:attribute (your evaluator object). Repeatable; default: hallucination and not_empty."
)
_BUILTIN = ("hallucination", "not_empty", "max_length", "regex", "no_regex", "json_schema")


def parse_evaluator(spec: str, *, model: str, base_url: str | None, api_key: str | None) -> Any:
    """One ``--evaluator`` value -> an evaluator object."""
    from .. import eval as peekr_eval

    kind, _, arg = spec.partition(":")
    try:
        if kind == "hallucination" and not arg:
            return peekr_eval.Hallucination(model=model, base_url=base_url, api_key=api_key)
        if kind == "not_empty" and not arg:
            return peekr_eval.NotEmpty()
        if kind == "max_length":
            return peekr_eval.MaxLength(int(arg))
        if kind == "regex":
            return peekr_eval.Regex(arg)
        if kind == "no_regex":
            return peekr_eval.Regex(arg, must_match=False, name="no_regex")
        if kind == "json_schema":
            schema = json.loads(Path(arg).read_text(encoding="utf-8"))
            return peekr_eval.JsonSchema(schema)
    except (OSError, ValueError, TypeError, ModuleNotFoundError) as exc:
        raise typer.BadParameter(f"{spec!r}: {exc}", param_hint="--evaluator") from None
    if kind in _BUILTIN or not arg:
        raise typer.BadParameter(f"{spec!r}; expected {_EVALUATOR_HELP}", param_hint="--evaluator")
    from ..evaluators._offline import DatasetError, load_app

    try:
        found: Any = load_app(spec)
    except DatasetError as exc:
        raise typer.BadParameter(str(exc).replace("--app", "--evaluator"), param_hint="--evaluator") from None
    if isinstance(found, type):  # a class: make one with its defaults
        found = found()
    return found


def parse_minimums(values: list[str]) -> dict[str, float]:
    """``["hallucination=0.8", ...]`` -> ``{"hallucination": 0.8}``."""
    out = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(number)
        except ValueError:
            raise typer.BadParameter(
                f"{value!r}; expected NAME=NUMBER, e.g. hallucination=0.8", param_hint="--min"
            ) from None
    return out


def eval_run(
    dataset: Annotated[Path, typer.Argument(help='JSONL: one {"input": ..., "expected"?, "context"?} per line.')],
    app: Annotated[str, typer.Option("--app", help="Your function, module:function; called with each row's input.")],
    evaluator: Annotated[
        list[str] | None, typer.Option("--evaluator", "-e", metavar="SPEC", help=_EVALUATOR_HELP)
    ] = None,
    minimum: Annotated[
        list[str] | None,
        typer.Option(
            "--min", metavar="NAME=NUMBER", help="Gate: NAME=NUMBER, the lowest mean score that passes. Repeatable."
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64, help="Rows at once.")] = 4,
    db: Annotated[
        Path | None, typer.Option("--db", help="Traces file to write; default: a new file in eval-runs/.")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="A previous run's traces file to compare with.")
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report here.")] = None,
    model: Annotated[str, typer.Option("--judge-model", help="Judge model for hallucination.")] = "gpt-4o-mini",
    base_url: Annotated[str | None, typer.Option("--judge-base-url", help="OpenAI-compatible judge endpoint.")] = None,
    api_key: Annotated[str | None, typer.Option("--judge-api-key", help="The judge's API key.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run your app on every row of a dataset, evaluate the answers, and exit 1 when a --min fails."""
    from ..evaluators._offline import DatasetError, compare_runs, load_app, load_dataset, read_scores, run_dataset
    from ._common import console, fail, plural
    from .eval import _progress

    minimums = parse_minimums(minimum or [])
    try:
        rows = load_dataset(dataset)
        function = load_app(app)
        baseline_scores = read_scores(baseline) if baseline is not None else None
    except DatasetError as exc:
        fail(str(exc))
    evaluators = [
        parse_evaluator(spec, model=model, base_url=base_url, api_key=api_key)
        for spec in (evaluator or ["hallucination", "not_empty"])
    ]
    out_db = db or Path("eval-runs") / f"{dataset.stem}-{time.strftime('%Y%m%d-%H%M%S')}.db"
    with _progress() as progress:
        progress.disable = progress.disable or as_json
        task = progress.add_task(f"{dataset.name} through {app}", total=len(rows), extra="")
        try:
            result = run_dataset(
                rows, function, evaluators, db=out_db, dataset=str(dataset), concurrency=concurrency,
                on_row=lambda: progress.advance(task),
            )  # fmt: skip
        except DatasetError as exc:
            fail(str(exc))
    result.thresholds.update(minimums)
    if baseline_scores is not None:
        result.comparisons = compare_runs(read_scores(out_db), baseline_scores)
    if report is not None:
        report.write_text(_html(result), encoding="utf-8")
    if as_json:
        console().print_json(json.dumps(_as_dict(result)))
    else:
        _print(result, plural)
        if report is not None:
            console().print(f"HTML report: {report}")
    if not result.passed:
        raise typer.Exit(1)


def _as_dict(result: Any) -> dict[str, Any]:
    return {
        "dataset": result.dataset,
        "db": result.db,
        "rows": result.rows,
        "app_errors": result.app_errors,
        "seconds": round(result.seconds, 3),
        "scores": {n: vars(s) for n, s in result.scores.items()},
        "comparisons": {n: {**vars(c), "significant": c.significant} for n, c in result.comparisons.items()},
        "thresholds": result.thresholds,
        "failures": result.failures,
        "passed": result.passed,
    }


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _print(result: Any, plural: Any) -> None:
    from rich.table import Table

    from ._common import console

    out = console()
    table = Table(
        title=f"{result.dataset}: {plural(result.rows, 'row')}, {result.app_errors} app errors, {result.seconds:.1f} s"
    )
    for column in ("score", "n", "mean", "95% CI", "min", "vs baseline"):
        table.add_column(column, justify="left" if column == "score" else "right")
    for name, s in result.scores.items():
        ci = f"{_fmt(s.low)}–{_fmt(s.high)}" if s.mean is not None else "–"
        minimum = result.thresholds.get(name)
        gate = (
            ""
            if minimum is None
            else (f"{minimum:g} ✓" if s.mean is not None and s.mean >= minimum else f"{minimum:g} ✗")
        )
        c = result.comparisons.get(name)
        versus = "" if c is None else f"{c.diff:+.3f} ({'significant' if c.significant else 'not significant'})"
        table.add_row(name, str(s.n), _fmt(s.mean), ci, gate, versus)
    out.print(table)
    out.print(f"Traces: {result.db} (peekr view {result.db} --io)")
    if result.passed:
        out.print("[green]PASS[/]" + (": every --min met" if result.thresholds else ""))
    else:
        for line in result.failures:
            out.print(f"[red]FAIL[/] {line}")


def _html(result: Any) -> str:
    esc = html.escape
    rows = []
    for name, s in result.scores.items():
        c = result.comparisons.get(name)
        minimum = result.thresholds.get(name)
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{esc(str(v))}</td>"
                for v in (
                    name,
                    s.n,
                    _fmt(s.mean),
                    f"{_fmt(s.low)}–{_fmt(s.high)}",
                    s.unscored,
                    "" if minimum is None else minimum,
                    "" if c is None else f"{c.diff:+.3f} ({'significant' if c.significant else 'not significant'})",
                )
            )  # fmt: skip
            + "</tr>"
        )
    verdict = "PASS" if result.passed else "FAIL: " + "; ".join(result.failures)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>peekr eval run: {esc(result.dataset)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2rem;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}}td:first-child,th:first-child{{text-align:left}}
.pass{{color:#17692a}}.fail{{color:#b00020}}</style></head><body>
<h1>peekr eval run</h1>
<p>{esc(result.dataset)}: {result.rows} rows, {result.app_errors} app errors, {result.seconds:.1f} s.
Traces: <code>{esc(result.db)}</code></p>
<table><tr><th>score</th><th>n</th><th>mean</th><th>95% CI</th><th>unscored</th><th>min</th><th>vs baseline</th></tr>
{"".join(rows)}</table>
<p class="{"pass" if result.passed else "fail"}">{esc(verdict)}</p>
</body></html>
"""
