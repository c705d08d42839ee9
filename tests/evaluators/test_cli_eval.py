"""``peekr eval`` over stored traces (resumable) and ``peekr eval-judge`` on labeled files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import peekr
from peekr.cli._app import build_app
from peekr.store._readers import SpanFilter, open_traces
from peekr.testing.fake_provider import FakeProvider

CONTEXT = "Paris is the capital of France."


def invoke(*args: str) -> Any:
    return CliRunner().invoke(
        build_app(), list(args), env={"OPENAI_API_KEY": "sk-fake", "NO_COLOR": "1", "COLUMNS": "250"}
    )


def record(path: Path, n: int, storage: str = "sqlite") -> None:
    peekr.instrument(storage=storage, path=path, providers=[])  # type: ignore[arg-type]
    for i in range(n):
        with peekr.span(
            "openai.chat.completions",
            provider="openai",
            model="gpt-4o",
            input=[{"role": "system", "content": CONTEXT}, {"role": "user", "content": "Tell me about Paris."}],
            output=f"Paris is the capital of France. Paris has {i} bridges.",
        ):
            pass
    with peekr.span("retrieval"):  # not an LLM span: never evaluated
        pass
    peekr.shutdown()


def scores(path: Path) -> list[float | None]:
    with open_traces(path) as store:
        spans = store.query(SpanFilter(), limit=None).spans
    return [(s["attributes"].get("eval_scores") or {}).get("hallucination") for s in spans if s["name"] != "retrieval"]


@pytest.mark.parametrize("suffix", ["db", "jsonl"])
def test_eval_scores_stored_spans_and_resumes(fake: FakeProvider, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"traces.{suffix}"
    record(path, 5, storage="sqlite" if suffix == "db" else "jsonl")
    first = invoke("eval", str(path), "--base-url", fake.openai_base_url, "--limit", "2")
    assert first.exit_code == 0, first.output
    assert "Evaluated 2 spans (mean hallucination score 0.500" in first.output
    assert sorted(scores(path), key=str) == [0.5, 0.5, None, None, None]
    second = invoke("eval", str(path), "--base-url", fake.openai_base_url)
    assert second.exit_code == 0, second.output
    assert "Skipping 2 spans already scored" in second.output and "Evaluated 3 spans" in second.output
    assert scores(path) == [0.5] * 5
    requests = len(fake.requests)
    third = invoke("eval", str(path), "--base-url", fake.openai_base_url)
    assert "Nothing to evaluate: 5 LLM spans matched, 5 already scored" in third.output
    assert len(fake.requests) == requests  # no judge call at all
    forced = invoke("eval", str(path), "--base-url", fake.openai_base_url, "--force", "--no-details")
    assert "Evaluated 5 spans" in forced.output


def test_eval_reports_judge_failures(fake: FakeProvider, tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    record(path, 2)
    result = invoke("eval", str(path), "--base-url", fake.openai_base_url, "--model", "gpt-4o-mini-error-401")
    assert result.exit_code == 1
    assert "2 failed" in result.output and "HTTP 401" in result.output


def test_eval_on_a_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    result = invoke("eval", str(tmp_path / "nope.db"))
    assert result.exit_code == 1 and "no such file" in result.output


def test_eval_judge_prints_metrics_on_the_shipped_sample(fake: FakeProvider) -> None:
    result = invoke("eval-judge", "--base-url", fake.openai_base_url, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cases"] == 30
    assert data["per_class"]["supported"]["support"] == data["per_class"]["not_supported"]["support"] == 15
    assert data["cost_usd"] > 0 and data["tokens"]["input"] > 0
    # The fake judge's substring rule never accepts a paraphrase: it calls everything not_supported.
    assert data["balanced_accuracy"] == 0.5 and data["per_class"]["not_supported"]["recall"] == 1.0


def test_eval_judge_metrics_are_exact(fake: FakeProvider, tmp_path: Path) -> None:
    labeled = tmp_path / "labeled.jsonl"
    cases = [
        {"context": CONTEXT, "response": "Paris is the capital of France.", "label": "supported"},  # TP
        {"context": CONTEXT, "response": "France's capital is Paris.", "label": "supported"},  # FN (paraphrase)
        {"context": CONTEXT, "response": "Paris is the capital of Spain.", "label": "not_supported"},  # TN
        {"context": CONTEXT, "response": "Hello! How can I help?", "label": "not_supported"},  # no prediction
    ]
    labeled.write_text("".join(json.dumps(c) + "\n" for c in cases))
    result = invoke("eval-judge", str(labeled), "--base-url", fake.openai_base_url, "--json")
    data = json.loads(result.stdout)
    # 95 % Wilson intervals by hand: 1 of 1 -> [0.2065, 1]; 1 of 2 -> [0.0945, 0.9055]
    assert data["per_class"]["supported"] == {
        "precision": 1.0, "recall": 0.5, "support": 2,
        "precision_ci": [pytest.approx(0.2065, abs=1e-4), 1.0], "recall_ci": pytest.approx([0.0945, 0.9055], abs=1e-4),
    }  # fmt: skip
    assert data["per_class"]["not_supported"] == {
        "precision": 0.5, "recall": 0.5, "support": 2,
        "precision_ci": pytest.approx([0.0945, 0.9055], abs=1e-4),
        "recall_ci": pytest.approx([0.0945, 0.9055], abs=1e-4),
    }  # fmt: skip
    assert data["balanced_accuracy"] == 0.5 and data["abstained"] == 1 and data["failed"] == 0
    assert data["balanced_accuracy_ci"] == [0.0, 1.0]  # each recall resampled from 1 right, 1 wrong
    table = invoke("eval-judge", str(labeled), "--base-url", fake.openai_base_url)
    assert "Balanced accuracy: 50.0%" in table.output and "per case" in table.output


def test_eval_judge_rejects_a_bad_file(tmp_path: Path) -> None:
    labeled = tmp_path / "bad.jsonl"
    labeled.write_text('{"context": "c", "response": "r", "label": "maybe"}\n')
    result = invoke("eval-judge", str(labeled))
    assert result.exit_code == 1 and "bad.jsonl:1: label must be 'supported' or 'not_supported'" in result.output


def test_eval_judge_when_every_case_fails_reports_na_and_the_failures(fake: FakeProvider, tmp_path: Path) -> None:
    labeled = tmp_path / "labeled.jsonl"
    cases = [
        {"context": CONTEXT, "response": "Paris is the capital of France.", "label": "supported"},
        {"context": CONTEXT, "response": "Paris is the capital of Spain.", "label": "not_supported"},
    ]
    labeled.write_text("".join(json.dumps(c) + "\n" for c in cases))
    args = ("eval-judge", str(labeled), "--base-url", fake.openai_base_url, "--model", "gpt-4o-mini-error-401")
    table = invoke(*args)
    assert table.exit_code == 1
    assert "Balanced accuracy: n/a: all 2 cases failed" in table.output, table.output
    assert "0.0%" not in table.output and "_Failed" not in table.output
    assert "Failed 2 cases:" in table.output and "2 × judge 'gpt-4o-mini-error-401'" in table.output
    assert "HTTP 401" in table.output
    data = json.loads(invoke(*args, "--json").stdout)
    assert data["balanced_accuracy"] is None and data["accuracy"] is None and data["failed"] == 2
    assert all("_Failed" not in row["error"] and "HTTP 401" in row["error"] for row in data["rows"])
