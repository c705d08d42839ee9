"""``Hallucination()`` without a context extractor checks the answer against the documents retrieved
earlier in the same trace (a LangChain retriever here, over langchain-core's in-memory vector store),
end to end: the app's model and the judge both on the fake provider, real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_openai import ChatOpenAI

import peekr
from peekr._span import Span
from peekr.evaluators import Hallucination
from peekr.evaluators._fake_judge import FakeJudge
from peekr.evaluators._retrieved import RetrievedContext
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

APP = "You answer questions."
DOCUMENTS = ["The Eiffel Tower is in Paris.", "The Eiffel Tower was completed in 1889."]
ANSWER = "The Eiffel Tower is in Paris. The Eiffel Tower is 500 metres tall."


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    judge = FakeJudge()

    def responder(request: dict[str, Any]) -> str:
        first = request["messages"][0]
        return ANSWER if first["role"] == "system" and first["content"] == APP else judge(request)

    with FakeProvider(chat_responder=responder) as provider:
        yield provider


def rag_chain(fake: FakeProvider) -> Any:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
    store.add_texts(DOCUMENTS)
    retriever = store.as_retriever(search_kwargs={"k": 2})
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)  # type: ignore[arg-type]
    # The prompt does not carry the documents: only the retrieval span holds them.
    prompt = ChatPromptTemplate.from_messages([("system", APP), ("user", "{question}")])
    return {"docs": retriever, "question": lambda q: q} | prompt | llm | StrOutputParser()


def evaluator(fake: FakeProvider, **kwargs: Any) -> Hallucination:
    judge = peekr.eval.OpenAIJudge("gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
    return Hallucination(judge=judge, **kwargs)


def evaluated(sink: InMemorySink) -> Span:
    """The chat span once its evaluation reached the sink: one ``flush()`` waits for the evaluations and for every
    sink to have written their results (docs/evaluation.md)."""
    assert peekr.flush(timeout=30)
    span = next(s for s in sink.spans if s.name == "openai.chat.completions")
    assert "eval_scores" in span.attributes or "eval_errors" in span.attributes, sorted(span.attributes)
    return span


def test_default_context_is_the_documents_retrieved_in_the_trace(fake: FakeProvider) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], evaluators=[evaluator(fake)])
    assert rag_chain(fake).invoke("Tell me about the Eiffel Tower.") == ANSWER
    span = evaluated(sink)
    assert (
        span.attributes["eval_scores"]["hallucination"] == 0.5
    )  # Paris: supported; 500 metres: contradicted by the documents
    summary = span.attributes["hallucination_eval"]
    assert summary["notes"][0] == "context: 2 documents retrieved in this trace"
    verdicts = {d["claim"]: d["verdict"] for d in span.attributes["hallucination_details"]}
    assert verdicts == {
        "The Eiffel Tower is in Paris": "supported",
        "The Eiffel Tower is 500 metres tall": "contradicted",
    }


def test_an_explicit_context_extractor_still_wins(fake: FakeProvider) -> None:
    sink = InMemorySink()
    peekr.instrument(
        storage="none", sinks=[sink], evaluators=[evaluator(fake, context_extractor=lambda s: "Owls hunt at night.")]
    )
    rag_chain(fake).invoke("Tell me about the Eiffel Tower.")
    span = evaluated(sink)
    assert span.attributes["eval_scores"]["hallucination"] == 0.0
    assert not any(n.startswith("context:") for n in span.attributes["hallucination_eval"]["notes"])


def test_without_a_retrieval_the_default_is_still_the_input(fake: FakeProvider) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], evaluators=[evaluator(fake)])
    with fake.openai_client() as client:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": APP}, {"role": "user", "content": "The Eiffel Tower is in Paris."}],
        )
    span = evaluated(sink)
    assert span.attributes["hallucination_eval"]["notes"][0] == "context: the span's input (no retrieval in this trace)"
    assert span.attributes["eval_scores"]["hallucination"] == 0.5  # the user's sentence is in the input


# -- the bounded store ---------------------------------------------------------------------------


def retrieval_span(trace: str, texts: list[str], end: str = "2026-01-01T00:00:01.000000Z") -> Span:
    documents = [{"id": str(i), "score": None, "text": t} for i, t in enumerate(texts)]
    return Span.model_construct(
        trace_id=trace,
        span_id="r" * 16,
        parent_id=None,
        name="qdrant.query_points",
        start_time="2026-01-01T00:00:00.000000Z",
        end_time=end,
        duration_ms=1.0,
        status="ok",
        tenant_id=None,
        retention_class="default",
        attributes={"kind": "retrieval", "retrieval": {"top_k": 2, "documents": documents}},
    )


def llm_span(trace: str, end: str = "2026-01-01T00:00:02.000000Z") -> Span:
    span = retrieval_span(trace, [], end)
    return span.model_copy(update={"name": "openai.chat.completions", "attributes": {}})


def test_store_is_bounded_and_counts_what_it_forgets() -> None:
    drops: list[tuple[str, int]] = []
    now = [0.0]
    store = RetrievedContext(
        lambda reason, n: drops.append((reason, n)), max_traces=2, max_documents=3, ttl=60, clock=lambda: now[0]
    )
    store.observe(retrieval_span("t1", ["a", "b"]))
    store.observe(retrieval_span("t1", ["b", "c", "d", "e"]))  # "b" again: kept once; "e" over the cap
    assert store.documents(llm_span("t1")) == ["a", "b", "c"] and drops == [("context_truncated", 2)]
    store.observe(retrieval_span("t2", ["x"]))
    store.observe(retrieval_span("t3", ["y"]))  # a third trace: the least recently written (t1) goes
    assert drops[-1] == ("context_evicted", 1) and store.documents(llm_span("t1")) == []
    assert store.documents(llm_span("t2", end="2026-01-01T00:00:00.500000Z")) == []  # retrieved after it
    now[0] = 61.0
    assert store.documents(llm_span("t3")) == [] and len(store) == 0  # expired, not counted as lost
    assert [reason for reason, _ in drops] == ["context_truncated", "context_evicted"]


def test_evictions_show_in_peekr_stats(fake: FakeProvider) -> None:
    h = evaluator(fake, context_traces=1)
    peekr.instrument(storage="none", evaluators=[h])
    h.observe(retrieval_span("t1", ["a"]))
    h.observe(retrieval_span("t2", ["b"]))
    assert peekr.stats().dropped[("evaluators.hallucination", "context_evicted")] == 1


def test_bad_context_settings_are_rejected(fake: FakeProvider) -> None:
    with pytest.raises(ValueError, match="context_traces"):
        evaluator(fake, context_traces=0)
    with pytest.raises(ValueError, match="context_ttl"):
        evaluator(fake, context_ttl=-1)
