"""`peekr.export_feedback`: the fine-tuning export (OpenAI format and raw spans), filters and bad arguments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _cli_sample import Sample
from ft_format import check_openai_ft_line

import peekr


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
