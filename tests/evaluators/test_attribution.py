"""Claim-to-chunk attribution: each claim names the retrieved chunk its evidence comes from, and an
unsupported claim says whether retrieval missed its subject or generation went beyond the chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import peekr
from peekr.evaluators._fake_judge import FakeJudge
from peekr.testing import capture_spans
from peekr.testing.fake_provider import FakeProvider

APP = "APP:"
CHUNKS = ["The Eiffel Tower is in Paris.", "The Eiffel Tower is 330 metres tall.", "Bananas are yellow."]
ANSWER = (
    "The Eiffel Tower is 330 metres tall. "  # supported by chunk 2
    "The Eiffel Tower is painted gold. "  # contradicted (the chunks describe the tower otherwise): generation
    "Paris keeps the Eiffel Tower open at night. "  # unsupported, but the chunks discuss it: generation
    "The Louvre has a glass pyramid."  # unsupported, nothing retrieved about it: retrieval_gap
)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    judge = FakeJudge()

    def responder(request: dict[str, Any]) -> str:
        system = request["messages"][0]["content"]
        return system[len(APP) :] if system.startswith(APP) else judge(request)

    with FakeProvider(chat_responder=responder) as provider:
        yield provider


def _evaluate(fake: FakeProvider, evaluator: Any, *, retrieve: bool) -> dict[str, Any]:
    with capture_spans(evaluators=[evaluator]) as sink, fake.openai_client() as client:
        with peekr.span("rag"):
            if retrieve:
                documents = [{"id": f"doc-{i}", "text": t} for i, t in enumerate(CHUNKS)]
                with peekr.span("retrieve", kind="retrieval", retrieval={"query": "tower", "documents": documents}):
                    pass
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "system", "content": APP + ANSWER}, {"role": "user", "content": "The tower?"}],
            )
        peekr.flush(10)
    (span,) = [s for s in sink.spans if s.name == "openai.chat.completions"]
    return span.attributes  # type: ignore[return-value]


def _judge(fake: FakeProvider, **kwargs: Any) -> peekr.eval.Hallucination:
    return peekr.eval.Hallucination(base_url=fake.openai_base_url, api_key="sk-fake", **kwargs)


def test_claims_name_their_chunk_and_their_cause(fake: FakeProvider) -> None:
    attributes = _evaluate(fake, _judge(fake), retrieve=True)
    details = attributes["hallucination_details"]
    assert [(d["verdict"], d["chunks"], d["cause"]) for d in details] == [
        ("supported", [2], None),
        ("contradicted", [1], "generation"),
        ("unsupported", [], "generation"),
        ("unsupported", [], "retrieval_gap"),
    ]
    summary = attributes["hallucination_eval"]
    assert summary["counts"]["retrieval_gap"] == 1 and summary["counts"]["generation"] == 2
    assert summary["judge_calls"] == 2  # extraction + one batched verification, as before
    assert summary["prompt_version"] == "hallucination-v2"


def test_a_list_from_the_context_extractor_is_attributed_too(fake: FakeProvider) -> None:
    attributes = _evaluate(fake, _judge(fake, context_extractor=lambda span: CHUNKS), retrieve=False)
    assert [d["chunks"] for d in attributes["hallucination_details"]] == [[2], [1], [], []]


def test_a_plain_string_context_has_no_chunks_to_name(fake: FakeProvider) -> None:
    attributes = _evaluate(fake, _judge(fake, context_extractor=lambda span: " ".join(CHUNKS)), retrieve=False)
    assert all("chunks" not in d and "cause" not in d for d in attributes["hallucination_details"])
    assert "retrieval_gap" not in attributes["hallucination_eval"]["counts"]


def test_replay_shows_each_claims_chunk_and_cause(fake: FakeProvider, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from peekr.cli._app import build_app

    db = tmp_path / "traces.db"
    peekr.instrument(storage="sqlite", path=db, evaluators=[_judge(fake)])
    with fake.openai_client() as client, peekr.span("rag") as root:
        documents = [{"id": f"doc-{i}", "text": t} for i, t in enumerate(CHUNKS)]
        with peekr.span("retrieve", kind="retrieval", retrieval={"query": "tower", "documents": documents}):
            pass
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": APP + ANSWER}, {"role": "user", "content": "The tower?"}],
        )
    peekr.flush(10)
    peekr.shutdown()
    result = CliRunner().invoke(build_app(), ["replay", root.trace_id, "--db", str(db), "--io"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "claim [supported] (chunk 2): The Eiffel Tower is 330 metres tall" in result.output
    assert "claim [unsupported] [retrieval gap]: The Louvre has a glass pyramid" in result.output
    assert "claim [unsupported] [generation]: Paris keeps the Eiffel Tower open at night" in result.output
    view = CliRunner().invoke(build_app(), ["view", str(db), "--io"], env={"COLUMNS": "200"})
    assert view.exit_code == 0, view.output
    assert "claim [unsupported] [retrieval gap]: The Louvre has a glass pyramid" in view.output
    assert "claim [supported]" not in view.output  # view lists only the claims that are not supported


def test_a_chatty_local_judge_is_read_all_the_same() -> None:
    """A small local model writes prose and a fence around its JSON: the scores do not change."""
    judge = FakeJudge(chatty=True)

    def responder(request: dict[str, Any]) -> str:
        system = request["messages"][0]["content"]
        return system[len(APP) :] if system.startswith(APP) else judge(request)

    with FakeProvider(chat_responder=responder) as chatty:
        attributes = _evaluate(chatty, _judge(chatty), retrieve=True)
    assert attributes["eval_scores"]["hallucination"] == 0.25
    assert attributes["hallucination_eval"]["judge_calls"] == 2  # no retry was needed
