"""Tables and help at 80, 100 and 200 columns: what the user needs is always there, never cut."""

from __future__ import annotations

from pathlib import Path

import pytest
from _cli_run import run_cli
from _cli_sample import Sample

from peekr.cli._common import fmt_cost, fmt_duration

WIDTHS = [80, 100, 200]


def _run(args: list[str], width: int) -> str:
    result = run_cli(args, columns=width)
    assert result.code == 0, result.err
    return result.out


def _fits(out: str, width: int) -> None:
    assert "…" not in out, out
    too_long = [line for line in out.splitlines() if len(line.rstrip()) > width]
    assert not too_long, too_long


def _row(out: str, name: str, duration: str) -> str:
    """The line showing the span ``name`` with ``duration`` (names are never wrapped)."""
    rows = [line for line in out.splitlines() if f" {name} " in f" {line} " and f" {duration} " in line]
    assert rows, f"no row with {name!r} and {duration!r} in\n{out}"
    return rows[0]


@pytest.mark.parametrize("width", WIDTHS)
def test_view_shows_cost_duration_status_scores_and_full_names(traces_db: Path, sample: Sample, width: int) -> None:
    out = _run(["view", str(traces_db), "--limit", "100"], width)
    _fits(out, width)
    scores = {e.span_id: e.scores for e in sample.evals}
    for span in sample.spans:
        row = _row(out, span.name, fmt_duration(span.duration_ms))
        assert f" {span.status}" in row, row
        cost = fmt_cost(span.attributes.get("cost_usd"))
        if cost:
            assert f" {cost} " in f"{row} ", row
        for key, value in scores.get(span.span_id, {}).items():
            assert f"{key}={value:.2g}" in row, row
    header = out.splitlines()[0].split()
    assert {"name", "cost", "duration", "status", "scores"} <= set(header)
    if width >= 100:
        assert {"trace", "tokens"} <= set(header)
    if width >= 200:
        assert {"time", "model"} <= set(header)


@pytest.mark.parametrize("width", WIDTHS)
def test_replay_shows_span_model_cost_duration_and_status(traces_db: Path, sample: Sample, width: int) -> None:
    trace = sample.ids["openai_trace"]
    out = _run(["replay", trace, "--db", str(traces_db), "--no-interactive"], width)
    _fits(out, width)
    assert trace in out
    header = next(line for line in out.splitlines() if line.startswith("#")).split()
    assert {"span", "model", "cost", "status", "duration"} <= set(header), header
    for span in (s for s in sample.spans if s.trace_id == trace):
        row = _row(out, span.name, fmt_duration(span.duration_ms))
        assert f" {span.status} " in row, row
        if span.attributes.get("model"):
            assert f" {span.attributes['model']} " in row, row
        cost = fmt_cost(span.attributes.get("cost_usd"))
        if cost:
            assert f" {cost} " in row, row
        assert "█" in row  # the timeline is still drawn
    if width >= 100:
        assert "tokens" in header and "timeline" in header


MY_COMMANDS = [
    "",
    "view",
    "replay",
    "dashboard",
    "feedback",
    "export-feedback",
    "prune",
    "eval score",
    "eval run",
    "eval-judge",
    "server",
]


@pytest.mark.parametrize("command", MY_COMMANDS, ids=[c or "peekr" for c in MY_COMMANDS])
def test_help_at_80_columns_shows_every_option_name_in_full(command: str) -> None:
    import typer

    from peekr.cli._app import build_app

    cmd = typer.main.get_command(build_app())
    for part in command.split():
        cmd = cmd.commands[part]  # type: ignore[attr-defined]
    out = _run([*command.split(), "--help"], 80)
    _fits(out, 80)
    assert "<bool>" not in out
    names = [opt for param in cmd.params for opt in (*param.opts, *param.secondary_opts) if opt.startswith("--")]
    assert names
    for name in [*names, "--help"]:
        assert f" {name} " in out or f" {name}\n" in out, name
