"""`peekr prune`, cost computation, and the CLI app itself (--version, --help, exit codes)."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from _cli_sample import Sample

from peekr._cost import compute_cost, get_prices, set_prices
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


# --- cost -------------------------------------------------------------------------------------


def _no_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("compute_cost tried to open a network connection")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket.socket, "connect", _no_network)


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"provider": "openai", "model": "gpt-4o", "tokens_input": 1000, "tokens_output": 100}, 0.0035),
        # 500 of the 1,000 input tokens were cache reads at half price.
        (
            {
                "provider": "openai",
                "model": "gpt-4o",
                "tokens_input": 1000,
                "tokens_output": 100,
                "tokens_cache_read": 500,
            },
            0.002875,
        ),
        # Anthropic: 200 cache reads ($0.30/M) and 300 cache writes ($3.75/M) inside 1,000 input tokens.
        (
            {
                "provider": "anthropic",
                "model": "claude-sonnet-4-20250514",
                "tokens_input": 1000,
                "tokens_output": 100,
                "tokens_cache_read": 200,
                "tokens_cache_write": 300,
            },
            0.004185,
        ),
        (
            {
                "provider": "bedrock",
                "model": "anthropic.claude-3-haiku-20240307-v1:0",
                "tokens_input": 1000,
                "tokens_output": 100,
            },
            0.000375,
        ),
        ({"provider": "gemini", "model": "gemini-2.5-flash", "tokens_input": 1000, "tokens_output": 100}, 0.00055),
        ({"provider": "openai", "model": "text-embedding-3-small", "tokens_input": 1000}, 0.00002),
    ],
)
def test_cost_from_bundled_prices_offline(offline: None, attrs: dict[str, Any], expected: float) -> None:
    assert compute_cost(attrs) == pytest.approx(expected)


@pytest.mark.parametrize(
    "attrs",
    [
        {"provider": "openai", "model": "gpt-made-up-9", "tokens_input": 10, "tokens_output": 10},
        {"provider": "openai", "model": "gpt-4o"},  # no token counts
        {"tokens_input": 10},
        {"model": None, "tokens_input": "many"},
        {"model": "gpt-4o", "tokens_input": -5, "tokens_output": True},
    ],
)
def test_unknown_or_unpriceable_is_none_never_zero(offline: None, attrs: dict[str, Any]) -> None:
    assert compute_cost(attrs) is None


def test_user_prices_win_and_can_be_cleared(offline: None) -> None:
    try:
        set_prices(
            {
                "gpt-made-up-9": {"input": 1.0, "output": 2.0},
                "openai/gpt-4o": {"input": 1, "output": 1, "cache_read": 0},
            }
        )
        assert compute_cost({"model": "gpt-made-up-9", "tokens_input": 1_000_000, "tokens_output": 500_000}) == 2.0
        cached = {
            "provider": "openai",
            "model": "gpt-4o",
            "tokens_input": 2_000_000,
            "tokens_output": 0,
            "tokens_cache_read": 1_000_000,
        }
        assert compute_cost(cached) == 1.0
        assert compute_cost({**cached, "provider": "azure"}) != 1.0  # "provider/model" keys apply to that provider only
        assert set(get_prices()) == {"gpt-made-up-9", "openai/gpt-4o"}
    finally:
        set_prices(None)
    assert compute_cost({"model": "gpt-made-up-9", "tokens_input": 1, "tokens_output": 1}) is None


@pytest.mark.parametrize(
    ("prices", "error", "match"),
    [
        ({"m": {"input": 1}}, ValueError, "prices\\['m'\\] needs 'output'"),
        ({"m": {"input": 1, "output": -2}}, ValueError, "must be a non-negative number"),
        ({"m": {"input": 1, "output": 2, "per": 3}}, ValueError, "unknown keys \\['per'\\]"),
        ({"": {"input": 1, "output": 2}}, ValueError, "non-empty 'model' or 'provider/model'"),
        ({"m": 3}, TypeError, "must be a mapping like"),
        ([1], TypeError, "prices must be a mapping"),
    ],
)
def test_set_prices_rejects_bad_input(prices: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        set_prices(prices)


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
