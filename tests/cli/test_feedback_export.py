"""Feedback (`peekr.feedback`, `peekr feedback`) and the fine-tuning export (`export_feedback`)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from _cli_sample import Sample, json_lines

import peekr


def _feedback_rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT trace_id, rating, score, note FROM feedback ORDER BY id").fetchall()


# --- peekr.feedback --------------------------------------------------------------------------


def test_feedback_into_a_db_path(traces_db: Path, sample: Sample) -> None:
    trace = sample.ids["gemini_trace"]
    record = peekr.feedback(trace, rating="bad", note="too short", score=0.25, db_path=traces_db)
    assert (record.trace_id, record.rating, record.score, record.note) == (trace, "bad", 0.25, "too short")
    assert _feedback_rows(traces_db)[-1] == (trace, "bad", 0.25, "too short")


def test_feedback_through_the_running_sqlite_storage(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    peekr.instrument(storage="sqlite", path=db, providers=[])
    with peekr.span("answer") as span:
        trace_id = span.trace_id  # type: ignore[union-attr]
    peekr.feedback(trace_id, rating="good", note="spot on")  # flushes the span first, then checks it exists
    peekr.feedback(trace_id, rating="bad")  # several ratings per trace are kept
    with pytest.raises(ValueError, match="is not in .*app.db; list trace ids with `peekr view"):
        peekr.feedback("f" * 32, rating="good")
    peekr.shutdown()
    assert [(r[1], r[3]) for r in _feedback_rows(db) if r[0] == trace_id] == [("good", "spot on"), ("bad", None)]


def test_feedback_through_the_running_jsonl_storage(tmp_path: Path, cli) -> None:
    path = tmp_path / "traces.jsonl"
    peekr.instrument(storage="jsonl", path=path, providers=[])
    with peekr.span("answer") as span:
        trace_id = span.trace_id  # type: ignore[union-attr]
    peekr.feedback(trace_id, rating="good", score=0.9)
    peekr.shutdown()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert {"record": "feedback", "trace_id": trace_id, "rating": "good", "score": 0.9}.items() <= records[-1].items()
    result = cli(["replay", trace_id, "--db", str(path)])
    assert "feedback: good score=0.9" in result.out


def test_feedback_without_peekr_running_uses_traces_db_in_the_current_directory(
    tmp_path: Path, sample: Sample, traces_db: Path
) -> None:
    assert traces_db == tmp_path / "traces.db"  # the test runs in tmp_path
    peekr.feedback(sample.ids["bedrock_trace"], rating="good")
    assert _feedback_rows(traces_db)[-1][:2] == (sample.ids["bedrock_trace"], "good")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"trace_id": "xyz", "rating": "good"},
            ValueError,
            "trace_id='xyz' is not a trace id; expected 32 lowercase hex",
        ),
        ({"trace_id": "a" * 32, "rating": "meh"}, ValueError, "rating='meh' is not a rating; expected 'good', 'bad'"),
        (
            {"trace_id": "a" * 32, "rating": None, "score": 1.5},
            ValueError,
            r"score=1.5 is out of range; expected a number in \[0, 1\]",
        ),
        ({"trace_id": "a" * 32, "rating": None}, ValueError, "needs a rating .* or a score"),
        ({"trace_id": "a" * 32, "score": "high"}, TypeError, "score='high' must be a number"),
    ],
)
def test_feedback_rejects_bad_arguments(
    kwargs: dict[str, Any], error: type[Exception], match: str, traces_db: Path
) -> None:
    with pytest.raises(error, match=match):
        peekr.feedback(**kwargs, db_path=traces_db)


def test_feedback_unknown_trace_in_db(traces_db: Path) -> None:
    with pytest.raises(ValueError, match=f"trace_id='{'c' * 32}' is not in .*traces.db"):
        peekr.feedback("c" * 32, rating="good", db_path=traces_db)


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


# --- export -----------------------------------------------------------------------------------

ROLES = {"system", "user", "assistant", "tool"}


def check_openai_ft_line(example: dict[str, Any]) -> None:
    """OpenAI's chat fine-tuning format, checked independently of peekr's own validator."""
    assert set(example) <= {"messages", "tools"}
    messages = example["messages"]
    assert messages and all(m["role"] in ROLES for m in messages)
    assert all(m["role"] != "system" for m in messages[1:]), "system only first"
    assert messages[-1]["role"] == "assistant", "the training target is the assistant's turn"
    assert messages[1 if messages[0]["role"] == "system" else 0]["role"] == "user", (
        "the conversation opens with the user"
    )
    pending: set[str] = set()
    for m in messages:
        if m["role"] == "assistant":
            assert pending == set(), "every tool call is answered before the assistant speaks again"
            assert m.get("content") or m.get("tool_calls")
            for call in m.get("tool_calls") or []:
                assert set(call) == {"id", "type", "function"} and call["type"] == "function"
                assert set(call["function"]) == {"name", "arguments"}
                assert isinstance(json.loads(call["function"]["arguments"]), dict)
                pending.add(call["id"])
        elif m["role"] == "tool":
            assert set(m) == {"role", "tool_call_id", "content"} and isinstance(m["content"], str)
            assert m["tool_call_id"] in pending
            pending.discard(m["tool_call_id"])
        else:
            assert isinstance(m["content"], str) and m["content"]
    for tool in example.get("tools", []):
        assert tool["type"] == "function" and tool["function"]["name"]


def _export(source: Path, out: Path, **kwargs: Any) -> tuple[Any, list[dict[str, Any]]]:
    summary = peekr.export_feedback(db_path=source, output=out, **kwargs)
    return summary, [json.loads(line) for line in out.read_text().splitlines()]


def test_openai_ft_export_converts_every_provider(traces: Path, tmp_path: Path) -> None:
    summary, lines = _export(traces, tmp_path / "training.jsonl", filter="good")
    for line in lines:
        check_openai_ft_line(line)
    # Trace 1 (OpenAI, latest rating good after a bad one): 2 calls; Anthropic, Gemini, Bedrock: 1 each.
    assert summary.traces == 5 and summary.written == 5 == len(lines)
    assert summary.skipped == {"embeddings call, not a chat call": 1}
    firsts = [line["messages"][-1]["content"] for line in lines]
    assert "It is 21°C and sunny in Paris." in firsts
    by_answer = {line["messages"][-1]["content"]: line for line in lines}

    anthropic = by_answer["25°C in Rome."]["messages"]
    assert [m["role"] for m in anthropic] == ["system", "user", "assistant", "tool", "assistant"]
    assert anthropic[2]["tool_calls"][0] == {
        "id": "toolu_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
    }
    assert anthropic[2]["content"] == "Checking."
    assert anthropic[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "25C"}
    assert by_answer["25°C in Rome."]["tools"][0]["function"]["parameters"] == {"type": "object"}

    gemini = by_answer["3°C in Oslo."]["messages"]
    assert [m["role"] for m in gemini] == ["system", "user", "assistant", "tool", "assistant"]
    assert gemini[0]["content"] == "Answer in one line."
    assert json.loads(gemini[2]["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
    assert json.loads(gemini[3]["content"]) == {"temp_c": 3}

    bedrock = by_answer["18°C in Lima."]["messages"]
    assert [m["role"] for m in bedrock] == ["system", "user", "assistant", "tool", "assistant"]
    assert bedrock[2]["tool_calls"][0]["id"] == bedrock[3]["tool_call_id"] == "tu_1"
    assert json.loads(bedrock[3]["content"]) == {"temp_c": 18}

    tool_round = next(line for line in lines if line["messages"][-1].get("tool_calls"))
    assert tool_round["messages"][-1]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_bad_and_all_filters_and_latest_rating_wins(traces_db: Path, tmp_path: Path) -> None:
    bad, lines = _export(traces_db, tmp_path / "bad.jsonl", filter="bad")
    # Only the failed call's trace is rated bad last (trace 1 was bad first, then good).
    assert bad.traces == 1 and bad.written == 0 and lines == []
    assert bad.skipped == {"call failed (status error)": 1}
    everything, _ = _export(traces_db, tmp_path / "all.jsonl", filter="all")
    assert everything.traces == 6


def test_raw_export_writes_spans_with_their_feedback(traces: Path, tmp_path: Path, sample: Sample) -> None:
    summary, lines = _export(traces, tmp_path / "raw.jsonl", filter="good", format="raw")
    assert summary.written == summary.traces == 5
    first = next(line for line in lines if line["trace_id"] == sample.ids["openai_trace"])
    assert first["feedback"]["rating"] == "good" and [f["rating"] for f in first["feedback_history"]] == ["bad", "good"]
    assert len(first["spans"]) == 4 and first["spans"][3]["attributes"]["eval_scores"] == {"hallucination": 0.9}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"filter": "great"}, "filter='great' is not supported; expected one of: good, bad, all"),
        ({"format": "csv"}, "format='csv' is not supported; expected one of: openai-ft, raw"),
    ],
)
def test_export_rejects_bad_arguments(traces_db: Path, tmp_path: Path, kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        peekr.export_feedback(db_path=traces_db, output=tmp_path / "x.jsonl", **kwargs)


def test_export_missing_db(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nope.db: no such file"):
        peekr.export_feedback(db_path=tmp_path / "nope.db", output=tmp_path / "x.jsonl")


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
