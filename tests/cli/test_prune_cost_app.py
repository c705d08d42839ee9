"""`peekr prune` and the CLI app itself (--version, --help, exit codes)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from _cli_sample import Sample

from peekr._version import __version__

# --- prune ------------------------------------------------------------------------------------


def _names(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM spans")}


def test_prune_dry_run_changes_nothing(cli, traces_db: Path) -> None:
    before = _names(traces_db)
    result = cli(["prune", str(traces_db), "--dry-run"])
    assert result.code == 0, result.err
    assert "Would delete 2 spans, 0 evaluation results and 1 feedback record; 10 spans remain." in result.out
    assert "Dry run: nothing was deleted." in result.out
    assert _names(traces_db) == before


def test_prune_deletes_by_retention_class(cli, traces_db: Path, sample: Sample) -> None:
    result = cli(["prune", str(traces_db)])
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[1].split() == ["pii", "1", "d", "1"] and lines[2].split() == ["short", "7", "d", "1"]
    assert "Deleted 2 spans, 0 evaluation results and 1 feedback record; 10 spans remain." in result.out
    names = _names(traces_db)
    assert "old.pii" not in names and "old.short" not in names  # 2 days > 1 d; 10 days > 7 d
    assert "old.default" in names and "openai.chat.completions" in names  # 10 days < 30 d
    with sqlite3.connect(traces_db) as conn:
        kept = {row[0] for row in conn.execute("SELECT trace_id FROM feedback")}
    assert sample.ids["pii_trace"] not in kept and sample.ids["openai_trace"] in kept
    assert cli(["view", str(traces_db), "--name", "old.short"]).out.strip() == "No spans match these filters."


def test_prune_with_configured_days(cli, traces_db: Path) -> None:
    result = cli(["prune", str(traces_db), "--days", "default=5", "--days", "short=30"])
    assert result.code == 0, result.err
    names = _names(traces_db)
    assert "old.default" not in names and "old.short" in names
    assert "default            5 d" in result.out


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("forever=3", "retention class='forever' is not a retention class"),
        ("short=-1", "retention days for 'short' must be a positive number"),
        ("short", "'short'; expected CLASS=DAYS"),
    ],
)
def test_prune_bad_days(cli, traces_db: Path, days: str, message: str) -> None:
    result = cli(["prune", str(traces_db), "--days", days])
    assert result.code == 2 and message in result.err


def test_prune_missing_file(cli, tmp_path: Path) -> None:
    result = cli(["prune", str(tmp_path / "nope.db")])
    assert result.code == 1 and result.err.strip() == f"peekr: error: {tmp_path / 'nope.db'}: no such file"


def test_prune_says_it_needs_a_sqlite_file(cli, traces_jsonl: Path, tmp_path: Path) -> None:
    before = traces_jsonl.read_bytes()
    result = cli(["prune", str(traces_jsonl)])
    assert result.code == 1 and result.out == ""
    assert result.err.strip().count("\n") == 0, result.err
    assert "not a SQLite database; prune works on a traces.db only" in result.err
    assert traces_jsonl.read_bytes() == before
    (tmp_path / "empty.db").write_bytes(b"")
    assert "empty file" in cli(["prune", str(tmp_path / "empty.db")]).err


# --- the app ----------------------------------------------------------------------------------


def test_version(cli) -> None:
    result = cli(["--version"])
    assert result.code == 0 and result.out.strip() == f"peekr {__version__}"


def test_no_arguments_shows_help(cli) -> None:
    result = cli([])
    assert "Usage: peekr" in result.out + result.err
    for command in ("view", "replay", "dashboard", "feedback", "export-feedback", "prune", "fake-provider"):
        assert command in result.out + result.err


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("view", "--since"),
        ("replay", "--interactive"),
        ("dashboard", "--output"),
        ("feedback", "--rating"),
        ("export-feedback", "--format"),
        ("prune", "--dry-run"),
        ("fake-provider", "--port"),
    ],
)
def test_every_command_has_help(cli, command: str, expected: str) -> None:
    result = cli([command, "--help"])
    assert result.code == 0 and expected in result.out and result.err == ""


def test_unknown_command_is_a_usage_error(cli) -> None:
    result = cli(["explode"])
    assert result.code == 2 and "No such command 'explode'" in result.err


@pytest.mark.parametrize(("redact", "shown"), [(True, "[redacted: retention_class=pii]"), (False, "my card is 4242")])
def test_pii_spans_are_stored_redacted_unless_opted_out(cli, tmp_path: Path, redact: bool, shown: str) -> None:
    import peekr

    db = tmp_path / "traces.db"
    peekr.instrument(storage="sqlite", path=db, providers=[], redact_pii=redact)
    with peekr.session(retention_class="pii"), peekr.span("support.chat", input="my card is 4242", output="noted"):
        pass
    peekr.shutdown()
    result = cli(["view", str(db), "--io"])
    assert result.code == 0, result.err
    assert f"input: {shown}" in result.out
    assert ("my card is 4242" in result.out) is not redact


def test_fake_provider_command_serves(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "peekr.cli", "fake-provider", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("peekr fake provider listening on http://127.0.0.1:"), first
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # also closes the pipe
