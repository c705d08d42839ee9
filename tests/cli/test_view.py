"""`peekr view` on files written by the real SQLite and JSONL sinks."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from _cli_sample import Sample, json_lines


def test_table_lists_spans_newest_first_with_every_column(cli, traces: Path, sample: Sample) -> None:
    result = cli(["view", str(traces)])
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "time",
        "(UTC)",
        "trace",
        "name",
        "model",
        "tokens",
        "cost",
        "duration",
        "status",
        "scores",
    ]
    body = lines[1:-1]
    assert len(body) == len(sample.spans)
    assert "openai.embeddings" in body[0]  # the newest span
    assert "old.short" in body[-1] or "old.default" in body[-1]  # the oldest
    anthropic = next(line for line in body if "anthropic.messages" in line)
    for cell in ("claude-sonnet-4-20250514", "300→30", "$0.0014", "950 ms", "ok", "hallucination=0.2"):
        assert cell in anthropic
    assert "error" in next(line for line in body if "gpt-4o-mini" in line)
    assert lines[-1] == f"spans 1–{len(sample.spans)} of {len(sample.spans)}, newest first"
    assert "\x1b[" not in result.out  # not a terminal: no colour codes


def test_cost_is_filled_by_the_bus_for_spans_recorded_without_one(cli, traces: Path) -> None:
    [span] = json_lines(cli(["view", str(traces), "--json", "--name", "openai.embeddings"]).out)
    assert span["attributes"]["cost_usd"] == pytest.approx(8 * 0.02 / 1e6)


@pytest.mark.parametrize(
    ("args", "expected_names"),
    [
        (["--session", "sess-1"], {"handle_chat", "openai.chat.completions", "get_weather"}),
        (["--user", "bob"], {"anthropic.messages"}),
        (["--tenant", "globex"], {"anthropic.messages"}),
        (["--model", "gpt-4o"], {"openai.chat.completions"}),
        (["--model", "gpt-4o*"], {"openai.chat.completions"}),
        (["--model", "*haiku*"], {"bedrock.converse"}),
        (["--status", "error"], {"openai.chat.completions"}),
        (["--name", "openai.chat"], {"openai.chat.completions"}),
        (["--name", "old.*"], {"old.short", "old.default", "old.pii"}),
        (
            ["--since", "1h"],
            {
                "handle_chat",
                "openai.chat.completions",
                "get_weather",
                "anthropic.messages",
                "gemini.generate_content",
                "bedrock.converse",
                "openai.embeddings",
            },
        ),
        (["--since", "3d", "--name", "old"], {"old.pii"}),
        (["--status", "ok", "--tenant", "acme", "--model", "gemini-2.5-flash"], {"gemini.generate_content"}),
    ],
)
def test_filters(cli, traces: Path, args: list[str], expected_names: set[str]) -> None:
    result = cli(["view", str(traces), "--json", *args])
    assert result.code == 0, result.err
    assert {span["name"] for span in json_lines(result.out)} == expected_names


def test_status_filter_counts(cli, traces: Path) -> None:
    spans = json_lines(cli(["view", str(traces), "--json", "--model", "gpt-4o*"]).out)
    assert sorted(s["status"] for s in spans) == ["error", "ok", "ok"]


def test_trace_filter_takes_a_full_id_or_a_prefix(cli, traces: Path, sample: Sample) -> None:
    trace = sample.ids["openai_trace"]
    full = json_lines(cli(["view", str(traces), "--json", "--trace", trace]).out)
    prefix = json_lines(cli(["view", str(traces), "--json", "--trace", trace[:10].upper()]).out)
    assert len(full) == 4 and {s["trace_id"] for s in full} == {trace}
    assert prefix == full


def test_json_lines_carry_whole_spans_with_merged_eval_results(cli, traces: Path, sample: Sample) -> None:
    spans = json_lines(cli(["view", str(traces), "--json", "--limit", "100"]).out)
    assert [s["start_time"] for s in spans] == sorted((s["start_time"] for s in spans), reverse=True)
    by_id = {s["span_id"]: s for s in spans}
    scored = by_id[sample.evals[0].span_id]["attributes"]
    assert scored["eval_scores"] == {"hallucination": 0.9}
    assert scored["hallucination_details"][0]["verdict"] == "supported"
    assert set(spans[0]) >= {"trace_id", "span_id", "parent_id", "name", "start_time", "duration_ms", "attributes"}


def test_paging(cli, traces: Path, sample: Sample) -> None:
    first = cli(["view", str(traces), "--limit", "5"])
    assert first.out.splitlines()[-1] == f"spans 1–5 of {len(sample.spans)}, newest first; next page: --page 2"
    pages = [json_lines(cli(["view", str(traces), "--json", "--limit", "5", "--page", str(p)]).out) for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [5, 5, 2]
    assert len({s["span_id"] for p in pages for s in p}) == len(sample.spans)
    past = cli(["view", str(traces), "--limit", "5", "--page", "9"])
    assert past.code == 1 and "page 9 is past the end: 12 spans match" in past.err


def test_no_match_is_not_an_error(cli, traces: Path) -> None:
    result = cli(["view", str(traces), "--user", "nobody"])
    assert result.code == 0
    assert result.out.strip() == "No spans match these filters."


def test_io_shows_inputs_and_outputs_truncated_and_full(cli, traces: Path) -> None:
    result = cli(["view", str(traces), "--io", "--model", "gpt-4o*"])
    assert result.code == 0, result.err
    out = result.out
    assert "input: system: You are a weather bot." in out
    assert "user: Weather in Paris?" in out
    assert '→ get_weather({"city": "Paris"})' in out
    assert "output: assistant: It is 21°C and sunny in Paris." in out
    assert "error: openai.RateLimitError: Rate limit reached" in out
    assert "… [+1706 chars; --full shows all]" in out  # the 2,000-char prompt is cut at 300
    full = cli(["view", str(traces), "--io", "--full", "--status", "error"]).out
    assert "x" * 2000 in full and "--full shows all" not in full


def test_io_renders_each_provider_readably(cli, traces: Path) -> None:
    out = cli(["view", str(traces), "--io", "--since", "1h"]).out
    assert "system: Be brief." in out and 'assistant: Checking. → get_weather({"city": "Rome"})' in out
    assert "user: ← 25C" in out
    assert 'model: → get_weather({"city": "Oslo"})' in out and "output: model: 3°C in Oslo." in out
    assert "system: You are terse." in out and "output: assistant: 18°C in Lima." in out


def test_bad_status_is_a_usage_error(cli, traces_db: Path) -> None:
    result = cli(["view", str(traces_db), "--status", "broken"])
    assert result.code == 2
    assert "'broken'; expected 'ok' or 'error'" in result.err


def test_bad_since_is_a_usage_error(cli, traces_db: Path) -> None:
    result = cli(["view", str(traces_db), "--since", "yesterday-ish"])
    assert result.code == 2
    assert "not a duration like 30m, 2h, 7d or an ISO date" in result.err


def _one_line_error(result, expected: str) -> None:
    assert result.code == 1
    assert result.out == ""
    assert result.err.strip().count("\n") == 0, result.err
    assert result.err.startswith("peekr: error: ") and expected in result.err, result.err


def test_missing_file(cli, tmp_path: Path) -> None:
    _one_line_error(cli(["view", str(tmp_path / "nope.db")]), "nope.db: no such file")


def test_empty_files(cli, tmp_path: Path) -> None:
    for name in ("traces.db", "traces.jsonl"):
        (tmp_path / name).write_bytes(b"")
        _one_line_error(cli(["view", str(tmp_path / name)]), f"{name}: empty file (no spans recorded yet)")


def test_database_without_spans(cli, tmp_path: Path) -> None:
    # What the SQLite sink leaves after creating its schema, before the first span arrives.
    from peekr.sinks._sqlite_schema import apply_migrations, configure_connection

    with sqlite3.connect(tmp_path / "traces.db") as db:
        configure_connection(db)
        apply_migrations(db)
    _one_line_error(cli(["view", str(tmp_path / "traces.db")]), "no spans recorded yet")


def test_corrupt_database(cli, traces_db: Path) -> None:
    data = bytearray(traces_db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # keep the magic header, wreck the schema page
    traces_db.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(f"{traces_db}{suffix}").unlink(missing_ok=True)
    _one_line_error(cli(["view", str(traces_db)]), "traces.db: ")


def test_garbage_with_db_suffix(cli, tmp_path: Path) -> None:
    (tmp_path / "traces.db").write_text("hello, not sqlite")
    _one_line_error(cli(["view", str(tmp_path / "traces.db")]), "not a SQLite database")


def test_sqlite_file_that_is_not_peekrs(cli, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE t (x)")
    _one_line_error(cli(["view", str(tmp_path / "other.db")]), "not a peekr traces database (it has no 'spans' table)")


def test_malformed_jsonl_lines_are_skipped_with_one_warning(cli, traces_jsonl: Path, sample: Sample) -> None:
    # One bad line in the middle (a hand edit, a crashed tool) must not hide the rest of the file.
    lines = traces_jsonl.read_text().splitlines(keepends=True)
    lines.insert(3, "{this is not json\n")
    lines.insert(6, "[1, 2]\n")
    lines.insert(9, '{"hello": "world"}\n')
    traces_jsonl.write_text("".join(lines))
    result = cli(["view", str(traces_jsonl), "--json", "--limit", "100"])
    assert result.code == 0, result.err
    assert len(json_lines(result.out)) == len(sample.spans)
    assert result.err.count("\n") == 1, result.err  # warned once, on stderr only
    assert result.err.startswith("peekr: warning: "), result.err
    assert "skipped 3 malformed lines (first at line 4: not valid JSON" in result.err
    table = cli(["view", str(traces_jsonl), "--limit", "100"])
    assert table.code == 0 and f"of {len(sample.spans)}, newest first" in table.out


def test_one_malformed_jsonl_line_names_its_line(cli, traces_jsonl: Path) -> None:
    lines = traces_jsonl.read_text().splitlines(keepends=True)
    lines.insert(2, '{"hello": "world"}\n')
    traces_jsonl.write_text("".join(lines))
    result = cli(["replay", json.loads(lines[0])["trace_id"], "--db", str(traces_jsonl), "--no-interactive"])
    assert result.code == 0 and "handle_chat" in result.out, result.err
    assert "skipped 1 malformed line (line 3: not a peekr record (trace_id: Field required))" in result.err


def test_jsonl_with_no_peekr_record_is_an_error(cli, tmp_path: Path) -> None:
    (tmp_path / "other.jsonl").write_text('{"hello": "world"}\n{"x": 1}\n')
    _one_line_error(cli(["view", str(tmp_path / "other.jsonl")]), "other.jsonl:1: not a peekr record")
    (tmp_path / "text.jsonl").write_text("hello\n")
    _one_line_error(cli(["view", str(tmp_path / "text.jsonl")]), "text.jsonl:1: not valid JSON")


def test_jsonl_with_a_cut_off_last_line_still_reads(cli, traces_jsonl: Path, sample: Sample) -> None:
    # A writer killed mid-line leaves a partial last line; everything before it is good.
    traces_jsonl.write_text(traces_jsonl.read_text() + '{"trace_id": "ab')
    result = cli(["view", str(traces_jsonl), "--json", "--limit", "100"])
    assert result.code == 0, result.err
    assert len(json_lines(result.out)) == len(sample.spans)


def test_directory(cli, tmp_path: Path) -> None:
    _one_line_error(cli(["view", str(tmp_path)]), "is a directory")
