"""`peekr feedback` and `peekr export-feedback` (the library functions: tests/store)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from _cli_sample import Sample, json_lines
from ft_format import check_openai_ft_line

import peekr


def _feedback_rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT trace_id, rating, score, note FROM feedback ORDER BY id").fetchall()


def test_feedback_through_the_running_jsonl_storage(tmp_path: Path, cli) -> None:
    path = tmp_path / "traces.jsonl"
    peekr.instrument(storage="jsonl", path=path, providers=[])
    with peekr.span("answer") as span:
        trace_id = span.trace_id
    peekr.feedback(trace_id, rating="good", score=0.9)
    peekr.shutdown()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert {"record": "feedback", "trace_id": trace_id, "rating": "good", "score": 0.9}.items() <= records[-1].items()
    result = cli(["replay", trace_id, "--db", str(path)])
    assert "feedback: good score=0.9" in result.out


def test_feedback_cli(cli, traces_db: Path, sample: Sample) -> None:
    trace = sample.ids["anthropic_trace"]
    result = cli(["feedback", trace[:10], "--rating", "bad", "--note", "wrong city", "--db", str(traces_db)])
    assert result.code == 0, result.err
    assert result.out.strip() == f"Recorded bad feedback for trace {trace}."
    assert _feedback_rows(traces_db)[-1] == (trace, "bad", None, "wrong city")
    unknown = cli(["feedback", "0" * 32, "--rating", "good", "--db", str(traces_db)])
    assert unknown.code == 1 and f"no trace '{'0' * 32}'" in unknown.err
    neither = cli(["feedback", trace, "--db", str(traces_db)])
    assert neither.code == 2 and "give --rating good|bad, --score 0..1, or both" in neither.err
    bad_score = cli(["feedback", trace, "--score", "7", "--db", str(traces_db)])
    assert bad_score.code == 2 and "expected a number from 0 to 1" in bad_score.err


def test_feedback_cli_on_jsonl_appends_a_record(cli, traces_jsonl: Path, sample: Sample) -> None:
    trace = sample.ids["gemini_trace"]
    assert cli(["feedback", trace, "--rating", "bad", "--db", str(traces_jsonl)]).code == 0
    last = json.loads(traces_jsonl.read_text().splitlines()[-1])
    assert (last["record"], last["trace_id"], last["rating"]) == ("feedback", trace, "bad")


def test_export_cli(cli, traces_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "training.jsonl"
    result = cli(["export-feedback", str(traces_db), "--filter", "good", "-o", str(out)])
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"Wrote 5 examples from 5 traces rated good to {out}.",
        "Skipped 1 span:",
        "       1  embeddings call, not a chat call",
    ]
    for line in json_lines(out.read_text()):
        check_openai_ft_line(line)
    bad = cli(["export-feedback", str(traces_db), "--format", "csv"])
    assert bad.code == 2 and "'csv'; expected openai-ft or raw" in bad.err


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=["022", "077", "002"])
def test_files_the_cli_writes_follow_the_umask(cli, traces_db: Path, tmp_path: Path, umask: int, mode: int) -> None:
    out = tmp_path / "out"
    before = os.umask(umask)  # the umask a shell would give the command
    try:
        for args in (
            ["export-feedback", str(traces_db), "-o", str(out / "training.jsonl")],
            ["export-feedback", str(traces_db), "-o", str(out / "training.jsonl")],  # replacing a file
            ["dashboard", str(traces_db), "-o", str(out / "report.html")],
        ):
            result = cli(args)
            assert result.code == 0, result.err
    finally:
        os.umask(before)
    for name in ("training.jsonl", "report.html"):
        assert (out / name).stat().st_mode & 0o777 == mode, name
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "training.jsonl"]  # no temp file left


def test_cli_wording_counts_and_ratings(cli, traces_db: Path, tmp_path: Path, sample: Sample) -> None:
    result = cli(["export-feedback", str(traces_db), "--filter", "bad", "-o", str(tmp_path / "bad.jsonl")])
    assert result.code == 0, result.err
    assert "Wrote 0 examples from 1 trace rated bad" in result.out, result.out
    assert "Skipped 1 span:" in result.out
    rated = cli(["feedback", sample.ids["openai_trace"], "--rating", "meh", "--db", str(traces_db)])
    assert rated.code == 2
    assert "'meh'; expected good or bad" in rated.err and "None" not in rated.err
    scored = cli(["feedback", sample.ids["openai_trace"], "--score", "1.5", "--db", str(traces_db)])
    assert scored.code == 2 and "expected a number from 0 to 1" in scored.err
