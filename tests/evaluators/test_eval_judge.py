"""``peekr eval-judge --evaluator ...``: every judge evaluator measured against a labeled file with the
fake judge (real HTTP): exact metrics and intervals on small cases computed by hand, the shipped
samples, bad files, a judge that fails every case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from peekr.cli._app import build_app
from peekr.evaluators._labeled import FORMATS, bootstrap_balanced_accuracy, sample_path
from peekr.store._stats import wilson
from peekr.testing.fake_provider import FakeProvider

EVALUATORS = ["hallucination", "answer_relevance", "context_relevance", "rubric", "citation_accuracy"]
Q = "Where is the Eiffel Tower located?"
CHUNK = "The tower is 330 metres tall."
PARIS = "Paris is the capital of France."

# Four cases per evaluator, by the fake judge's rules (peekr/evaluators/_fake_judge.py): a true
# positive, a false negative, a true negative, a false positive. Labels mix class names and numbers.
FOUR: dict[str, list[dict[str, Any]]] = {
    "hallucination": [  # supported when the claim's text is in the context
        {"context": PARIS, "response": PARIS, "label": "supported"},
        {"context": PARIS, "response": "France's capital is Paris.", "label": "supported"},
        {"context": PARIS, "response": "Paris is the capital of Spain.", "label": 0.0},
        {"context": PARIS, "response": PARIS, "label": "not_supported"},
    ],
    "answer_relevance": [  # relevant (score 1.0) when 2+ content words are shared with the question
        {"question": Q, "answer": "The Eiffel Tower is located in Paris.", "label": "pass"},
        {"question": Q, "answer": "It is in Paris, near the river.", "label": 1},
        {"question": Q, "answer": "Bananas are yellow.", "label": "fail"},
        {"question": Q, "answer": "The Eiffel Tower sells bananas.", "label": 0.5},  # binned at 1.0: fail
    ],
    "context_relevance": [  # a chunk is relevant when it shares a content word with the question
        {"question": Q, "chunks": ["The Eiffel Tower is in Paris.", "Bananas are yellow."], "label": "pass"},
        {"question": Q, "chunks": ["Paris is lovely.", "Bananas are yellow."], "label": 0.5},  # at 0.5: pass
        {"question": Q, "chunks": ["Bananas are yellow."], "label": "fail"},
        {"question": Q, "chunks": ["Tower cranes are tall.", "Bananas are yellow."], "label": 0.2},
    ],
    "rubric": [  # a criterion scores 5 when a word of its name is in the answer, else 1
        {"answer": "I am polite about it.", "criteria": {"polite": "Courteous."}, "label": "pass"},
        {"answer": "Sorry for the wait!", "label": "pass"},  # criteria from --criterion
        {"answer": "Go away.", "label": "fail"},
        {"answer": "A polite refusal: no.", "label": "fail"},
    ],
    "citation_accuracy": [  # supported when the citing sentence is in the chunk
        {"answer": "The tower is 330 metres tall [1].", "chunks": [CHUNK], "label": "pass"},
        {"answer": "The tower is very tall [1].", "chunks": [CHUNK], "label": "pass"},
        {"answer": "The tower is 330 metres tall [2].", "chunks": [CHUNK], "label": "fail"},  # no chunk 2
        {"answer": "The tower is 330 metres tall [1].", "chunks": [CHUNK], "label": "fail"},
    ],
}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(
        build_app(), list(args), env={"OPENAI_API_KEY": "sk-fake", "NO_COLOR": "1", "COLUMNS": "250"}
    )


def write(path: Path, cases: list[Any]) -> Path:
    path.write_text("".join((c if isinstance(c, str) else json.dumps(c)) + "\n" for c in cases))
    return path


def test_wilson_by_hand() -> None:
    # p = 1/2, n = 2, z = 1.96: centre 0.5, half-width 1.96 * sqrt(0.125 + 0.2401) / 2.9207 = 0.4055
    assert wilson(1, 2) == pytest.approx((0.0945, 0.9055), abs=1e-4)
    # p = 1, n = 1: centre (1 + 1.9207) / 4.8415 = 0.6033, half-width 1.96 * 0.98 / 4.8415 = 0.3967
    assert wilson(1, 1) == pytest.approx((0.2065, 1.0), abs=1e-4)
    assert wilson(0, 15) == pytest.approx((0.0, 0.2039), abs=1e-4)
    assert wilson(10, 10)[1] == 1.0 and wilson(0, 10)[0] == 0.0  # exact, not a rounding hair inside


def test_bootstrap_balanced_accuracy_by_hand() -> None:
    assert bootstrap_balanced_accuracy({"pass": [True] * 5, "fail": [True] * 3}) == (1.0, 1.0)
    # a class always right and a class always wrong: every resample is (1 + 0) / 2
    assert bootstrap_balanced_accuracy({"pass": [True] * 4, "fail": [False] * 4}) == (0.5, 0.5)
    # recall of "pass" resampled from [right, wrong] is 0, 1/2 or 1 (1/4, 1/2, 1/4): BA 0.5 .. 1.0
    assert bootstrap_balanced_accuracy({"pass": [True, False], "fail": [True, True]}) == (0.5, 1.0)
    assert bootstrap_balanced_accuracy({"pass": [], "fail": []}) is None


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_exact_metrics_and_intervals(fake: FakeProvider, tmp_path: Path, evaluator: str) -> None:
    labeled = write(tmp_path / f"{evaluator}.jsonl", FOUR[evaluator])
    args = ["eval-judge", str(labeled), "-e", evaluator, "--base-url", fake.openai_base_url]
    if evaluator == "rubric":
        args += ["--criterion", "polite=The answer is courteous."]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    positive, negative = FORMATS[evaluator].classes
    assert data["evaluator"] == evaluator and data["threshold"] == FORMATS[evaluator].threshold
    assert data["confusion"] == {
        positive: {positive: 1, negative: 1, "none": 0},
        negative: {positive: 1, negative: 1, "none": 0},
    }
    for cls in (positive, negative):  # 1 right of 2 either way: Wilson(1, 2)
        values = data["per_class"][cls]
        assert (values["precision"], values["recall"], values["support"]) == (0.5, 0.5, 2)
        assert values["precision_ci"] == values["recall_ci"] == pytest.approx([0.0945, 0.9055], abs=1e-4)
    # each class's recall resampled from one right, one wrong: BA is 0 with probability 1/16
    assert data["balanced_accuracy"] == 0.5 and data["balanced_accuracy_ci"] == [0.0, 1.0]
    assert data["failed"] == data["abstained"] == 0 and data["tokens"]["input"] > 0
    assert [row["predicted"] for row in data["rows"]] == [positive, negative, negative, positive]

    table = invoke(*args)
    assert table.exit_code == 0, table.output
    assert f"{evaluator} judged by gpt-4o-mini" in table.output
    assert "50.0% [9.5–90.5]" in table.output and "95 % Wilson intervals" in table.output
    assert "Balanced accuracy: 50.0% [0.0–100.0] (95 % bootstrap interval)" in table.output


def test_threshold_moves_the_cut_and_no_score_is_counted_apart(fake: FakeProvider, tmp_path: Path) -> None:
    labeled = write(
        tmp_path / "ar.jsonl",
        [
            {"question": Q, "answer": "It is in Paris, near the Eiffel river.", "label": "pass"},  # partly: 0.5
            {"question": "", "answer": "Bananas are yellow.", "label": "fail"},  # no question: no score
        ],
    )
    base = ["eval-judge", str(labeled), "-e", "answer_relevance", "--base-url", fake.openai_base_url, "--json"]
    strict = json.loads(invoke(*base).stdout)
    assert [r["score"] for r in strict["rows"]] == [0.5, None]
    assert [r["predicted"] for r in strict["rows"]] == ["fail", None]
    assert strict["abstained"] == 1 and strict["correct"] == 0
    lenient = json.loads(invoke(*base, "--threshold", "0.5").stdout)
    assert lenient["threshold"] == 0.5 and [r["predicted"] for r in lenient["rows"]] == ["pass", None]
    assert lenient["per_class"]["pass"]["recall"] == 1.0 and lenient["per_class"]["pass"]["recall_ci"][1] == 1.0
    assert lenient["per_class"]["fail"]["recall"] == 0.0 and lenient["per_class"]["fail"]["precision"] is None
    assert lenient["per_class"]["fail"]["precision_ci"] is None  # nothing predicted "fail": no interval


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_shipped_samples(fake: FakeProvider, evaluator: str) -> None:
    path = sample_path(evaluator)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert 20 <= len(lines) <= 30
    result = invoke("eval-judge", "-e", evaluator, "--base-url", fake.openai_base_url, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["file"] == str(path) and data["cases"] == len(lines) and data["failed"] == 0
    supports = [values["support"] for values in data["per_class"].values()]
    assert supports[0] == supports[1] == len(lines) // 2  # balanced by construction
    low, high = data["balanced_accuracy_ci"]
    assert low <= data["balanced_accuracy"] <= high
    for values in data["per_class"].values():
        for metric in ("precision", "recall"):
            if values[metric] is not None:
                assert values[f"{metric}_ci"][0] <= values[metric] <= values[f"{metric}_ci"][1]


@pytest.mark.parametrize(
    ("evaluator", "lines", "message"),
    [
        ("answer_relevance", ['{"question": "q", "answer": "a", "label": "supported"}'],
         "x.jsonl:1: label must be 'pass' or 'fail' or a number in [0, 1], got 'supported'"),
        ("hallucination", ['{"context": "c", "response": "r", "label": 1.5}'],
         "x.jsonl:1: label must be 'supported' or 'not_supported' or a number in [0, 1], got 1.5"),
        ("answer_relevance", ['{"question": "q", "answer": "a", "label": "pass"}', '{"question": "q", "answer'],
         "x.jsonl:2: not valid JSON"),
        ("context_relevance", ['{"question": "q", "chunks": "one chunk", "label": "pass"}'],
         "x.jsonl:1: 'chunks' must be a non-empty list of strings"),
        ("citation_accuracy", ['{"chunks": ["c"], "label": "pass"}'], "x.jsonl:1: missing string field 'answer'"),
        ("rubric", ['{"answer": "a", "label": "pass"}'],
         "x.jsonl:1: no 'criteria' on this line and none given with --criterion"),
        ("rubric", ['{"answer": "a", "criteria": {"polite": 3}, "label": "pass"}'],
         "x.jsonl:1: 'criteria' must be a non-empty object"),
        ("answer_relevance", ['{"question": "q", "answer": "a"}'], "x.jsonl:1: missing field 'label'"),
        ("answer_relevance", ["", "  "], "x.jsonl: no cases"),
    ],
)  # fmt: skip
def test_bad_files(tmp_path: Path, evaluator: str, lines: list[str], message: str) -> None:
    labeled = write(tmp_path / "x.jsonl", lines)
    result = invoke("eval-judge", str(labeled), "-e", evaluator)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


def test_bad_options(tmp_path: Path) -> None:
    labeled = write(tmp_path / "x.jsonl", FOUR["rubric"])
    unknown = invoke("eval-judge", str(labeled), "-e", "politeness")
    assert unknown.exit_code == 2 and "'politeness' is not one of hallucination, answer_relevance" in unknown.output
    criterion = invoke("eval-judge", str(labeled), "-e", "rubric", "--criterion", "polite")
    assert criterion.exit_code == 2 and "expected NAME=DESCRIPTION, got 'polite'" in criterion.output
    threshold = invoke("eval-judge", str(labeled), "-e", "rubric", "--threshold", "2")
    assert threshold.exit_code == 2


@pytest.mark.parametrize("evaluator", ["context_relevance", "rubric"])
def test_a_judge_that_fails_every_case_exits_1(fake: FakeProvider, tmp_path: Path, evaluator: str) -> None:
    labeled = write(tmp_path / "x.jsonl", FOUR[evaluator])
    args = ["eval-judge", str(labeled), "-e", evaluator, "--base-url", fake.openai_base_url]
    args += ["--model", "gpt-4o-mini-error-401", "--criterion", "polite=Courteous."]
    table = invoke(*args)
    assert table.exit_code == 1
    assert "Balanced accuracy: n/a: all 4 cases failed" in table.output and "HTTP 401" in table.output
    data = json.loads(invoke(*args, "--json").stdout)
    assert data["failed"] == 4 and data["balanced_accuracy"] is None and data["balanced_accuracy_ci"] is None
    assert all("HTTP 401" in row["error"] for row in data["rows"])
