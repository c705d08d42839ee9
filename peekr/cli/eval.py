"""``peekr eval traces.db`` (score stored spans) and ``peekr eval-judge labeled.jsonl`` (score a judge)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer import _click
from typer.core import TyperGroup

from ._common import counting_progress

__all__ = ["eval_command", "eval_judge", "register"]

_MODEL_HELP = "Judge model: an OpenAI-compatible name, anthropic/<model>, gemini-<...> or bedrock/<model id>."
_BASE_URL_HELP = "Endpoint of the judge: any OpenAI-compatible server (vLLM, Ollama, a gateway...)."
_KEY_HELP = "The judge's API key. Default: the SDK's env (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY)."


def _build(model: str, base_url: str | None, api_key: str | None, **kwargs: Any) -> Any:
    from ..evaluators import Hallucination

    try:
        return Hallucination(model=model, base_url=base_url, api_key=api_key, **kwargs)
    except (TypeError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None


def _context_extractor(key: str | None) -> Any:
    if key is None:
        return None
    return lambda span: span.attributes.get(key)


def eval_command(
    path: Annotated[Path, typer.Argument(help="traces.db or traces.jsonl", show_default=False)],
    model: Annotated[str, typer.Option("--model", "-m", help=_MODEL_HELP)] = "gpt-4o-mini",
    base_url: Annotated[str | None, typer.Option("--base-url", help=_BASE_URL_HELP)] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help=_KEY_HELP)] = None,
    context_key: Annotated[
        str | None,
        typer.Option("--context-key", help="Span attribute holding the context (default: the span's whole input)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Only spans with this name (prefix or glob).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only spans since: 30m, 2h, 7d or an ISO date.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Evaluate at most N spans.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64, help="Evaluations at once.")] = 4,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds per evaluation.")] = 120.0,
    force: Annotated[bool, typer.Option("--force", help="Re-evaluate spans that already have a score.")] = False,
    details: Annotated[bool, typer.Option("--details/--no-details", help="Store per-claim verdicts.")] = True,
) -> None:
    """Score stored LLM spans for hallucination; resumable (already scored spans are skipped)."""
    import anyio

    from ..evaluators._batch import pending_spans, run_stored
    from ..evaluators.hallucination import default_filter
    from ..store._readers import SpanFilter, TraceFileError
    from ._common import console, fail, fmt_cost, parse_since, plural

    evaluator = _build(
        model,
        base_url,
        api_key,
        context_extractor=_context_extractor(context_key),
        detailed=details,
        timeout=timeout,
    )
    flt = SpanFilter(name=name, since=parse_since(since))
    try:
        spans, matched, scored = pending_spans(
            path, evaluator.name, flt, accept=default_filter, force=force, limit=limit
        )
    except TraceFileError as exc:
        fail(str(exc))
    out = console()
    if not spans:
        out.print(
            f"Nothing to evaluate: {plural(matched, 'LLM span')} matched, {scored:,} already scored "
            "(use --force to redo)."
        )
        return
    if scored:
        out.print(f"Skipping {plural(scored, 'span')} already scored (use --force to redo them).")
    with counting_progress() as progress:
        task = progress.add_task("evaluating", total=len(spans), extra="")
        failures = 0

        def advance(result: Any) -> None:
            nonlocal failures
            failures += result is not None and result.status != "ok"
            progress.update(task, advance=1, extra=f"failed {failures}" if failures else "")

        try:
            summary = anyio.run(lambda: run_stored(path, evaluator, spans, concurrency=concurrency, on_result=advance))
        except KeyboardInterrupt:
            progress.stop()
            out.print("Interrupted: results so far are stored; run the same command again to resume.")
            raise typer.Exit(130) from None
    scores = summary.scores
    mean = f"{sum(scores) / len(scores):.3f}" if scores else "–"
    cost = fmt_cost(summary.cost_usd) if summary.cost_known else f"≥{fmt_cost(summary.cost_usd)} (some prices unknown)"
    out.print(
        f"Evaluated {plural(summary.evaluated, 'span')} (mean hallucination score {mean}; {summary.no_score:,} "
        f"without a score: no claims or no context), {summary.failed:,} failed. Judge cost {cost or '$0'}."
    )
    for error, count in sorted(summary.errors.items(), key=lambda kv: -kv[1])[:5]:
        out.print(f"  {count} × {error}")
    out.print(f"Scores are in {path}: see them with `peekr view {path}`.")
    if summary.failed and not summary.evaluated:
        raise typer.Exit(1)


_JUDGE_EVALUATORS = ("hallucination", "answer_relevance", "context_relevance", "rubric", "citation_accuracy")


def _evaluator_name(value: str) -> str:
    if value not in _JUDGE_EVALUATORS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(_JUDGE_EVALUATORS)}")
    return value


def _criterion(value: str) -> str:
    if "=" not in value or not value.split("=", 1)[0].strip():
        raise typer.BadParameter(f"expected NAME=DESCRIPTION, got {value!r}")
    return value


def eval_judge(
    labeled: Annotated[
        Path | None,
        typer.Argument(
            help="JSONL of labeled cases for the evaluator (see docs/evaluation.md); default: peekr's sample for it.",
            show_default=False,
        ),
    ] = None,
    evaluator: Annotated[
        str,
        typer.Option(
            "--evaluator",
            "-e",
            help="The judge evaluator to measure: " + ", ".join(_JUDGE_EVALUATORS) + ".",
            callback=_evaluator_name,
        ),
    ] = "hallucination",
    model: Annotated[str, typer.Option("--model", "-m", help=_MODEL_HELP)] = "gpt-4o-mini",
    base_url: Annotated[str | None, typer.Option("--base-url", help=_BASE_URL_HELP)] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help=_KEY_HELP)] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="A score at or above it is the positive class (supported / pass); numeric labels are binned "
            "at it too. Default: 1.0; 0.5 for context_relevance and rubric.",
            show_default=False,
        ),
    ] = None,
    criterion: Annotated[
        list[str] | None,
        typer.Option(
            "--criterion",
            help="rubric: NAME=DESCRIPTION, repeatable; for lines without their own 'criteria'.",
            callback=lambda values: [_criterion(v) for v in values or []],
            show_default=False,
        ),
    ] = None,
    scale: Annotated[int, typer.Option("--scale", min=2, max=100, help="rubric: each criterion is scored 1..N.")] = 5,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64, help="Cases at once.")] = 4,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds per case.")] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Measure a judge model on a labeled file: balanced accuracy, precision/recall per class (95 % intervals), cost."""
    import anyio

    from ..evaluators._labeled import load_cases, sample_path
    from ..evaluators._labeled_run import LabeledJudge, judge_labeled
    from ._common import console, fail, fmt_cost, plural

    source = labeled if labeled is not None else sample_path(evaluator)
    criteria = dict(c.split("=", 1) for c in criterion or []) or None
    try:
        cases = load_cases(source, evaluator, threshold=threshold, criteria=criteria)
    except OSError as exc:
        fail(f"{source}: cannot read ({exc.strerror})")
    except ValueError as exc:
        fail(str(exc))
    try:
        judge = LabeledJudge(
            evaluator, model, base_url=base_url, api_key=api_key, timeout=timeout, threshold=threshold, scale=scale
        )
    except (TypeError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    with counting_progress() as progress:
        progress.disable = progress.disable or as_json  # keep stderr quiet when the output is for a program
        task = progress.add_task(f"judging with {model}", total=len(cases), extra="")
        result, rows = anyio.run(
            lambda: judge_labeled(judge, cases, concurrency=concurrency, on_case=lambda: progress.advance(task))
        )
    out = console()
    data = result.as_dict()
    all_failed = result.cases > 0 and result.failed == result.cases
    if all_failed:  # nothing was judged: a 0% score would blame the judge for a broken setup
        data.update(balanced_accuracy=None, balanced_accuracy_ci=None, accuracy=None)
    if as_json:
        out.print_json(
            json.dumps(
                {"evaluator": evaluator, "threshold": judge.threshold, "model": model, "file": str(source), **data,
                 "rows": rows}
            )
        )  # fmt: skip
        if all_failed:
            raise typer.Exit(1)
        return
    if all_failed:
        out.print(f"Balanced accuracy: n/a: all {plural(result.cases, 'case')} failed, so nothing was judged.")
    else:
        table = Table(
            title=f"{evaluator} judged by {model} on {source.name} ({plural(result.cases, 'case')}, "
            f"threshold {judge.threshold:g})",
            caption="95 % Wilson intervals in brackets",
        )
        for column in ("class", "precision", "recall", "support"):
            table.add_column(column, justify="left" if column == "class" else "right")
        for cls, values in result.per_class.items():
            table.add_row(
                cls,
                _pct_ci(values["precision"], values["precision_ci"]),
                _pct_ci(values["recall"], values["recall_ci"]),
                str(values["support"]),
            )
        out.print(table)
        out.print(
            f"Balanced accuracy: [bold]{_pct_ci(result.balanced_accuracy, result.balanced_accuracy_ci)}[/] "
            f"(95 % bootstrap interval)   accuracy {data['accuracy']:.1%}   "
            f"no prediction {result.abstained}   failed {result.failed}"
        )
    per_case = fmt_cost(data["cost_per_case_usd"]) if data["cost_per_case_usd"] is not None else "unknown"
    total = fmt_cost(result.cost_usd) if result.cost_usd is not None else "unknown (no price for this model)"
    out.print(
        f"Judge cost: {total or '$0'} in all, {per_case or '$0'} per case "
        f"({result.tokens_input} input + {result.tokens_output} output tokens)"
    )
    failures: dict[str, list[str]] = {}
    for row in rows:
        if row["error"]:
            failures.setdefault(row["error"], []).append(str(row["id"]))
    if failures:
        out.print(f"Failed {plural(result.failed, 'case')}:")
    for error, ids in sorted(failures.items(), key=lambda kv: -len(kv[1]))[:5]:
        shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3:,} more" if len(ids) > 3 else "")
        out.print(f"  {len(ids):,} × {error} ({shown})")
    if len(failures) > 5:
        out.print(f"  … and {plural(len(failures) - 5, 'other error')}")
    if all_failed:
        raise typer.Exit(1)


def _pct_ci(value: object, ci: object) -> str:
    """``80.0% [49.0–94.3]``; the interval is left out when there is none."""
    text = _pct(value)
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and text != "–":
        text += f" [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}]"
    return text


def _pct(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "–"


class _ScoreByDefault(TyperGroup):
    """``peekr eval traces.db`` keeps working: anything that is not a subcommand means ``eval score``."""

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["score", *args]
        return super().parse_args(ctx, args)


def register(app: typer.Typer) -> None:
    """Add ``eval`` (``eval score``, ``eval run``) and ``eval-judge`` to the ``peekr`` command group."""
    from .eval_run import eval_run

    group = typer.Typer(
        cls=_ScoreByDefault,
        no_args_is_help=True,
        help="Score stored spans (peekr eval traces.db) or evaluate your app on a dataset (peekr eval run).",
    )
    group.command("score")(eval_command)
    group.command("run")(eval_run)
    app.add_typer(group, name="eval")
    app.command("eval-judge")(eval_judge)
