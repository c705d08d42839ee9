"""Deterministic checks (no judge): scores and reasons on real spans from the real openai SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import peekr
from peekr.testing import capture_spans
from peekr.testing.fake_provider import FakeProvider

ANSWERS = {
    "json": '```json\n{"city": "Paris", "population": 2100000}\n```',
    "bad-json": '{"city": "Paris", "population": "many"}',
    "prose": "Paris is the capital of France [1]. As an AI, I cannot be sure.",
    "empty": "   ",
}


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(chat_responder=lambda request: ANSWERS[request["messages"][-1]["content"]]) as provider:
        yield provider


SCHEMA = {
    "type": "object",
    "required": ["city", "population"],
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
}


def _scores(fake: FakeProvider, evaluators: list[object]) -> dict[str, dict[str, object]]:
    with capture_spans(evaluators=evaluators) as sink, fake.openai_client() as client:
        for key in ANSWERS:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": key}])
        peekr.flush(10)
    return {s.attributes["input"][-1]["content"]: s.attributes for s in sink.spans}  # type: ignore[misc]


def test_each_check_scores_pass_and_fail_with_its_reason(fake: FakeProvider) -> None:
    by_answer = _scores(
        fake,
        [
            peekr.eval.NotEmpty(),
            peekr.eval.MaxLength(40),
            peekr.eval.Regex(r"\[\d+\]", name="cites"),
            peekr.eval.Regex(r"(?i)as an ai", must_match=False, name="no_disclaimer"),
            peekr.eval.JsonSchema(SCHEMA),
        ],
    )
    prose, empty, good, bad = (by_answer[k] for k in ("prose", "empty", "json", "bad-json"))
    assert prose["eval_scores"] == {
        "not_empty": 1.0, "max_length": 0.0, "cites": 1.0, "no_disclaimer": 0.0, "json_schema": 0.0,
    }  # fmt: skip
    assert prose["max_length_details"] == "63 characters, over the limit of 40"
    assert prose["cites_details"] == "matched '[1]'"
    assert prose["no_disclaimer_details"] == "forbidden match 'As an AI'"
    assert prose["json_schema_details"].startswith("not JSON:")  # type: ignore[attr-defined]
    assert empty["eval_scores"]["not_empty"] == 0.0 and empty["not_empty_details"] == "the answer is empty"  # type: ignore[index]
    assert good["eval_scores"]["json_schema"] == 1.0  # type: ignore[index]  # a ```json fence around it is fine
    assert bad["eval_scores"]["json_schema"] == 0.0  # type: ignore[index]
    assert bad["json_schema_details"] == "population: 'many' is not of type 'integer'"


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: peekr.eval.MaxLength(0), ValueError, r"MaxLength\(chars=...\) must be a positive int"),
        (lambda: peekr.eval.Regex("("), ValueError, r"is not a valid regular expression"),
        (lambda: peekr.eval.JsonSchema({"type": "nonsense"}), ValueError, r"is not a valid JSON Schema"),
        (lambda: peekr.eval.JsonSchema("{}"), TypeError, r"must be a dict"),  # type: ignore[arg-type]
        (lambda: peekr.eval.NotEmpty(sample_rate=2), ValueError, r"sample_rate must be a number in \[0, 1\]"),
    ],
)
def test_bad_check_options_raise_clearly(make: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make()  # type: ignore[operator]
