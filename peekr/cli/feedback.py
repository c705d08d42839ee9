"""``peekr feedback`` (rate a trace) and ``peekr export-feedback`` (rated traces -> fine-tuning data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import console, fail, opened, plural, working

__all__ = ["export_feedback", "feedback", "register"]


def feedback(
    trace_id: Annotated[str, typer.Argument(help="Trace id (or a unique prefix) to rate.", show_default=False)],
    rating: Annotated[str | None, typer.Option("--rating", "-r", help="'good' or 'bad'.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Free text: what was good or wrong.")] = None,
    score: Annotated[float | None, typer.Option("--score", help="A graded score in [0, 1].")] = None,
    db: Annotated[Path, typer.Option("--db", help="The traces.db or traces.jsonl holding the trace.")] = Path(
        "traces.db"
    ),
) -> None:
    """Store a human rating of a trace (several per trace are kept; the latest counts for export)."""
    from ..store._feedback import append_feedback_jsonl, make_feedback
    from ..store._feedback import feedback as feedback_fn
    from ..store._readers import JSONLTraces

    if rating is None and score is None:
        raise typer.BadParameter("give --rating good|bad, --score 0..1, or both", param_hint="--rating")
    if rating is not None and rating not in ("good", "bad"):
        raise typer.BadParameter(f"{rating!r}; expected good or bad", param_hint="--rating")
    if score is not None and not 0.0 <= score <= 1.0:
        raise typer.BadParameter(f"{score:g}; expected a number from 0 to 1", param_hint="--score")
    with opened(db) as store:
        full_id = store.resolve_trace_id(trace_id.strip())
        is_jsonl = isinstance(store, JSONLTraces)
    if full_id is None:
        fail(f"no trace {trace_id!r} in {db}", hint=f"Find trace ids with `peekr view {db}`.")
    try:
        if is_jsonl:
            record = append_feedback_jsonl(db, make_feedback(full_id, rating, note, score))
        else:
            record = feedback_fn(full_id, rating=rating, note=note, score=score, db_path=db)
    except (ValueError, TypeError) as exc:
        fail(str(exc), code=2 if isinstance(exc, TypeError) else 1)
    what = " ".join(x for x in (record.rating, f"score={record.score:g}" if record.score is not None else "") if x)
    console().print(f"Recorded {what} feedback for trace {full_id}.")


def export_feedback(
    db: Annotated[Path, typer.Argument(help="traces.db (or traces.jsonl) with traces and feedback.")] = Path(
        "traces.db"
    ),
    filter: Annotated[
        str, typer.Option("--filter", "-f", help="Which latest rating to export: good, bad or all.")
    ] = "good",
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")] = Path("training.jsonl"),
    format: Annotated[str, typer.Option("--format", help="openai-ft (OpenAI chat fine-tuning) or raw.")] = "openai-ft",
) -> None:
    """Write rated traces as fine-tuning data (OpenAI chat format) or raw spans with their feedback."""
    from ..store._export import export_feedback as export_fn

    if filter not in ("good", "bad", "all"):
        raise typer.BadParameter(f"{filter!r}; expected good, bad or all", param_hint="--filter")
    if format not in ("openai-ft", "raw"):
        raise typer.BadParameter(f"{format!r}; expected openai-ft or raw", param_hint="--format")
    try:
        with working(f"exporting {db.name}"):
            summary = export_fn(db_path=db, filter=filter, output=output, format=format)
    except ValueError as exc:
        fail(str(exc))
    out = console()
    unit = "example" if format == "openai-ft" else "trace"
    out.print(
        f"Wrote {plural(summary.written, unit)} from {plural(summary.traces, 'trace')} rated {filter} "
        f"to {summary.output}."
    )
    if summary.skipped:
        out.print(f"Skipped {plural(summary.skipped_total, 'span' if format == 'openai-ft' else 'trace')}:")
        for reason, count in sorted(summary.skipped.items(), key=lambda kv: -kv[1]):
            out.print(f"  {count:>6,}  {reason}")
    if summary.traces == 0:
        out.print(
            f"No trace has a latest rating of {filter!r}; rate traces with `peekr feedback <trace_id> --rating good`."
        )


def register(app: typer.Typer) -> None:
    """Add the ``feedback`` and ``export-feedback`` commands to ``app``."""
    app.command("feedback")(feedback)
    app.command("export-feedback")(export_feedback)
