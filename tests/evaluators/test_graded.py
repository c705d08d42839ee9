"""The judge evaluators beyond hallucination, with the fake judge on the fake provider over HTTP:
scores, per-item details, no question / no chunks / no citations, a malformed judge, bad options."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import peekr
from peekr.evaluators._fake_judge import FakeJudge
from peekr.evaluators._lenient import loads_lenient
from peekr.testing import capture_spans
from peekr.testing.fake_provider import FakeProvider

APP = "APP: answer with the text after ANSWER="
CHUNKS = ["The Eiffel Tower is in Paris.", "The Eiffel Tower is 330 metres tall.", "Bananas are yellow."]


class Responder:
    def __init__(self, judge: FakeJudge) -> None:
        self.judge = judge

    def __call__(self, request: dict[str, Any]) -> str:
        system = request["messages"][0]["content"]
        if system.startswith(APP):
            return system.split("ANSWER=", 1)[1]  # type: ignore[no-any-return]
        return self.judge(request)


@pytest.fixture
def judge() -> FakeJudge:
    return FakeJudge()


@pytest.fixture
def fake(judge: FakeJudge) -> Iterator[FakeProvider]:
    with FakeProvider(chat_responder=Responder(judge)) as provider:
        yield provider


def _run(
    fake: FakeProvider, evaluator: Any, question: str, answer: str, chunks: list[str] | None = None
) -> dict[str, Any]:
    """One traced call (after a retrieval of ``chunks``, if any); the evaluated span's attributes."""
    with capture_spans(evaluators=[evaluator]) as sink, fake.openai_client() as client:
        with peekr.span("rag"):
            if chunks is not None:
                documents = [{"id": str(i), "text": t} for i, t in enumerate(chunks)]
                with peekr.span("retrieve", kind="retrieval", retrieval={"query": question, "documents": documents}):
                    pass
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "system", "content": APP + answer}, {"role": "user", "content": question}],
            )
        peekr.flush(10)
    (span,) = [s for s in sink.spans if s.name == "openai.chat.completions"]
    return span.attributes  # type: ignore[return-value]


def _kw(fake: FakeProvider) -> dict[str, Any]:
    return {"base_url": fake.openai_base_url, "api_key": "sk-fake"}


@pytest.mark.parametrize(
    ("answer", "score", "relevance"),
    [
        ("The Eiffel Tower is located in Paris.", 1.0, "relevant"),
        ("It is in France, I believe, near a tower.", 0.5, "partly"),
        ("Bananas are yellow.", 0.0, "irrelevant"),
    ],
)
def test_answer_relevance(fake: FakeProvider, answer: str, score: float, relevance: str) -> None:
    attributes = _run(fake, peekr.eval.AnswerRelevance(**_kw(fake)), "Where is the Eiffel Tower located?", answer)
    assert attributes["eval_scores"]["answer_relevance"] == score
    details = attributes["answer_relevance_eval"]
    assert details["relevance"] == relevance and details["reason"]
    assert details["prompt_version"] == "answer-relevance-v1" and details["judge_calls"] == 1


def test_context_relevance_judges_each_retrieved_chunk(fake: FakeProvider) -> None:
    attributes = _run(
        fake, peekr.eval.ContextRelevance(**_kw(fake)), "How tall is the Eiffel Tower?", "330 metres.", CHUNKS
    )
    assert attributes["eval_scores"]["context_relevance"] == pytest.approx(2 / 3)
    verdicts = attributes["context_relevance_eval"]["chunks"]
    assert [v["relevant"] for v in verdicts] == [True, True, False]


def test_context_relevance_without_chunks_has_no_score_and_says_why(fake: FakeProvider) -> None:
    attributes = _run(fake, peekr.eval.ContextRelevance(**_kw(fake)), "How tall is the Eiffel Tower?", "330 metres.")
    assert attributes["eval_scores"]["context_relevance"] is None
    assert attributes["context_relevance_eval"]["reason"] == "no question or no retrieved chunks to judge"
    assert attributes["context_relevance_eval"]["judge_calls"] == 0


def test_rubric_scores_each_criterion_with_reasons(fake: FakeProvider) -> None:
    rubric = peekr.eval.Rubric(
        {"paris": "Names the city.", "height": "Gives the height."}, scale=5, name="tour_guide", **_kw(fake)
    )
    attributes = _run(fake, rubric, "Tell me about the Eiffel Tower.", "The Eiffel Tower is in Paris.")
    assert attributes["eval_scores"]["tour_guide"] == 0.5  # (5-1)/4 and (1-1)/4
    assert [(c["name"], c["score"]) for c in attributes["tour_guide_eval"]["criteria"]] == [("paris", 5), ("height", 1)]


def test_citation_accuracy_checks_existence_then_support(fake: FakeProvider) -> None:
    answer = "The Eiffel Tower is in Paris [1]. The Eiffel Tower is 500 metres tall [2]. It opened in 1889 [7]."
    attributes = _run(fake, peekr.eval.CitationAccuracy(**_kw(fake)), "Tell me about the tower.", answer, CHUNKS)
    assert attributes["eval_scores"]["citation_accuracy"] == pytest.approx(1 / 3)
    citations = attributes["citation_accuracy_eval"]["citations"]
    assert [(c["chunk"], c["supported"]) for c in citations] == [(1, True), (2, False), (7, False)]
    assert citations[2]["reason"] == "there is no chunk 7"


def test_no_citations_means_no_score(fake: FakeProvider) -> None:
    attributes = _run(fake, peekr.eval.CitationAccuracy(**_kw(fake)), "Where?", "In Paris.", CHUNKS)
    assert attributes["eval_scores"]["citation_accuracy"] is None
    assert attributes["citation_accuracy_eval"]["reason"] == "the answer cites no source"


def test_a_judge_malformed_twice_fails_the_evaluation(fake: FakeProvider, judge: FakeJudge) -> None:
    judge.malformed = 2
    with capture_spans(evaluators=[peekr.eval.AnswerRelevance(**_kw(fake))]) as sink, fake.openai_client() as client:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": APP + "Paris."}, {"role": "user", "content": "Where is it?"}],
        )
        peekr.flush(10)
        assert peekr.eval.stats()["answer_relevance"].failed == 1
    (span,) = sink.spans
    assert "answer_relevance" not in span.attributes.get("eval_scores", {})


def test_a_judge_malformed_once_is_retried(fake: FakeProvider, judge: FakeJudge) -> None:
    judge.malformed = 1
    attributes = _run(
        fake, peekr.eval.AnswerRelevance(**_kw(fake)), "Where is the Eiffel Tower?", "The Eiffel Tower is in Paris."
    )
    assert attributes["eval_scores"]["answer_relevance"] == 1.0
    assert attributes["answer_relevance_eval"]["judge_calls"] == 2
    assert attributes["answer_relevance_eval"]["notes"][0].startswith("malformed relevance answer retried")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"relevance": "relevant"}', {"relevance": "relevant"}),
        ('```json\n{"relevance": "partly"}\n```', {"relevance": "partly"}),
        (
            'Sure! Here is my verdict: {"relevance": "irrelevant", "reason": "x"} Hope it helps.',
            {"relevance": "irrelevant", "reason": "x"},
        ),
    ],
)
def test_lenient_json_reads_what_small_local_models_write(text: str, expected: dict[str, str]) -> None:
    assert loads_lenient(text) == expected


def test_lenient_json_refuses_a_truncated_answer() -> None:
    with pytest.raises(ValueError, match="truncated"):
        loads_lenient('{"chunks": [{"id": 1, "relevant": tr')


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: peekr.eval.Rubric({}), ValueError, r"needs a non-empty dict"),
        (lambda: peekr.eval.Rubric(["clear"], scale=1), ValueError, r"scale=...\) must be an int of at least 2"),
        (
            lambda: peekr.eval.ContextRelevance(chunks_extractor="docs"),  # type: ignore[arg-type]
            TypeError,
            r"chunks_extractor=...\) expects a callable",
        ),
        (lambda: peekr.eval.CitationAccuracy(max_chunks=0), ValueError, r"max_chunks=...\) must be a positive int"),
        (lambda: peekr.eval.AnswerRelevance(name=""), TypeError, r"name=...\) expects a non-empty str"),
        (lambda: peekr.eval.AnswerRelevance(judge=object()), TypeError, r"expects a judge with async complete"),  # type: ignore[arg-type]
    ],
)
def test_bad_options_raise_clearly(make: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make()
