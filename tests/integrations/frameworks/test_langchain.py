"""LangChain with the real libraries: langchain-core runnables and langchain-openai's ChatOpenAI on the fake provider.

Each test compares the host's result with a run of an identical chain with peekr off, and asserts the
span tree: one trace, the provider span a child of the LangChain run that made it, exactly one span
per model call. LangChain's async callbacks run on asyncio only (``asyncio.gather``), so the async
tests run on asyncio; LangChain does not support trio.

The reference runs use a chain of their own: ChatOpenAI calls ``client.with_raw_response.create``,
and the OpenAI SDK caches ``with_raw_response`` (holding the unpatched ``create``) on first use, so
a client used before ``instrument()`` keeps bypassing the OpenAI integration; its calls are then
recorded as ``langchain.llm`` spans (nothing lost, nothing doubled).
"""

from __future__ import annotations

from typing import Any

import pytest
from _fw_spans import recorded, tree
from _langchain_chain import CHAIN_TREE, make_chain
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_openai import ChatOpenAI

import peekr
from peekr._errors import inject_faults
from peekr._redact import REDACTED
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


def test_chain_invoke_one_trace_provider_span_child_of_the_chain(server: FakeProvider) -> None:
    chain = make_chain(server)
    expected = make_chain(server).invoke({"topic": "owls"})  # peekr off (a chain of its own: see below)
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    assert chain.invoke({"topic": "owls"}) == expected == "Echo: Tell me about owls"

    spans = recorded(sink)
    assert tree(spans) == CHAIN_TREE
    assert len({s.trace_id for s in spans}) == 1
    assert [s.name for s in spans].count("openai.chat.completions") == 1  # no second langchain.llm span
    root = next(s for s in spans if s.parent_id is None)
    assert root.attributes["kind"] == "chain" and root.attributes["framework"] == "langchain"
    assert root.attributes["input"] == {"topic": "owls"} and root.attributes["output"] == expected
    llm = next(s for s in spans if s.name == "openai.chat.completions")
    assert llm.attributes["tokens_input"] > 0 and llm.attributes["model"] == "gpt-4o-mini"


def test_chain_inside_a_user_span_joins_its_trace(server: FakeProvider, sink: InMemorySink) -> None:
    chain = make_chain(server)
    with peekr.span("handle-request"):
        chain.invoke({"topic": "owls"})
    assert tree(recorded(sink)) == ["handle-request", *("  " + line for line in CHAIN_TREE)]


def test_chain_stream_chunks_identical_and_one_streamed_provider_span(server: FakeProvider) -> None:
    chain = make_chain(server)
    expected = list(make_chain(server).stream({"topic": "streams"}))
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    assert list(chain.stream({"topic": "streams"})) == expected

    spans = recorded(sink)
    assert tree(spans) == CHAIN_TREE
    llm = next(s for s in spans if s.name == "openai.chat.completions")
    assert llm.attributes["stream"] is True and llm.attributes["tokens_output"] > 0


@asyncio_only
@pytest.mark.anyio
async def test_chain_ainvoke_and_astream(server: FakeProvider) -> None:
    chain, reference = make_chain(server), make_chain(server)
    expected = await reference.ainvoke({"topic": "async"})
    expected_chunks = [c async for c in reference.astream({"topic": "async"})]
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    assert await chain.ainvoke({"topic": "async"}) == expected
    assert [c async for c in chain.astream({"topic": "async"})] == expected_chunks

    spans = recorded(sink)
    roots = [s for s in spans if s.parent_id is None]
    assert len(roots) == 2 and len({s.trace_id for s in spans}) == 2
    assert tree(spans) == CHAIN_TREE * 2
    assert [s.name for s in spans].count("openai.chat.completions") == 2


def test_llm_run_through_a_provider_peekr_does_not_patch_is_an_llm_span(server: FakeProvider) -> None:
    """With only the LangChain integration on, the OpenAI SDK is not patched: the LLM run is the span,
    with model and tokens from LangChain's usage metadata."""
    chain = make_chain(server)
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["langchain"])

    chain.invoke({"topic": "owls"})

    spans = recorded(sink)
    assert tree(spans) == [
        "langchain.chain [RunnableSequence]",
        "  langchain.chain [ChatPromptTemplate]",
        "  langchain.llm [ChatOpenAI]",
        "  langchain.chain [StrOutputParser]",
    ]
    llm = next(s for s in spans if s.name == "langchain.llm")
    attributes = llm.attributes
    assert attributes["kind"] == "llm" and attributes["provider"] == "openai"
    assert attributes["model"] == "gpt-4o-mini"
    assert attributes["tokens_input"] > 0 and attributes["tokens_output"] == 5  # "Echo: Tell me about owls"
    assert attributes["tokens_total"] == attributes["tokens_input"] + attributes["tokens_output"]
    assert attributes["input"][-1] == {"role": "user", "content": "Tell me about owls"}
    assert attributes["output"]["content"] == "Echo: Tell me about owls"
    assert attributes["finish_reason"] == "stop"


def test_streamed_llm_run_without_provider_patch_has_ttft(server: FakeProvider) -> None:
    chain = make_chain(server)
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["langchain"])
    "".join(chain.stream({"topic": "owls"}))
    llm = next(s for s in recorded(sink) if s.name == "langchain.llm")
    assert llm.attributes["stream"] is True and llm.attributes["ttft_ms"] >= 0


def make_retriever() -> Any:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
    store.add_documents(
        [
            Document(id="d1", page_content="The Eiffel Tower is in Paris.", metadata={"source": "wiki"}),
            Document(id="d2", page_content="The Eiffel Tower is 330 metres tall.", metadata={"source": "wiki"}),
            Document(id="d3", page_content="Owls hunt at night.", metadata={"source": "zoo"}),
        ]
    )
    return store.as_retriever(search_kwargs={"k": 2})


def make_rag_chain(fake: FakeProvider) -> Any:
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)  # type: ignore[arg-type]
    prompt = ChatPromptTemplate.from_messages([("system", "Documents:\n{context}"), ("user", "{question}")])

    def join(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    return (
        {"context": make_retriever() | RunnableLambda(join), "question": RunnablePassthrough()}
        | prompt
        | llm
        | StrOutputParser()
    )


def test_retriever_run_is_a_retrieval_span_with_its_documents(server: FakeProvider) -> None:
    chain = make_rag_chain(server)
    expected = make_rag_chain(server).invoke("How tall is the Eiffel Tower?")
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    assert chain.invoke("How tall is the Eiffel Tower?") == expected

    spans = recorded(sink)
    lines = tree(spans)
    assert lines[0] == "langchain.chain [RunnableSequence]"
    assert "      langchain.retriever [VectorStoreRetriever]" in lines
    assert lines.count("  openai.chat.completions") == 1 and len({s.trace_id for s in spans}) == 1
    retrieval_span = next(s for s in spans if s.name == "langchain.retriever")
    assert retrieval_span.attributes["kind"] == "retrieval"
    retrieval = retrieval_span.attributes["retrieval"]
    assert retrieval["query"] == "How tall is the Eiffel Tower?"
    assert len(retrieval["documents"]) == 2
    for doc in retrieval["documents"]:
        assert doc["id"] in {"d1", "d2", "d3"} and isinstance(doc["text"], str) and doc["metadata"]["source"]


def test_pii_session_redacts_retrieved_text_and_query_keeps_ids(server: FakeProvider, sink: InMemorySink) -> None:
    chain = make_rag_chain(server)
    with peekr.session(retention_class="pii"):
        chain.invoke("My card is 4111 1111 1111 1111")
    spans = recorded(sink)
    retrieval_span = next(s for s in spans if s.name == "langchain.retriever")
    retrieval = retrieval_span.attributes["retrieval"]
    assert retrieval["query"] == REDACTED
    assert all(d["text"] == REDACTED and d["metadata"] == REDACTED and d["id"] for d in retrieval["documents"])
    assert retrieval_span.attributes["kind"] == "retrieval"
    assert all("4111" not in str(s.attributes) for s in spans)


def test_capture_content_off_keeps_ids_and_drops_text(server: FakeProvider) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], capture_content=False)
    make_rag_chain(server).invoke("How tall is the Eiffel Tower?")
    retrieval = next(s for s in recorded(sink) if s.name == "langchain.retriever").attributes["retrieval"]
    assert "query" not in retrieval
    assert retrieval["documents"] and all(set(d) == {"id", "score"} for d in retrieval["documents"])


@tool
def divide(a: int, b: int) -> float:
    """Divide a by b."""
    return a / b


def test_tool_runs_and_tool_errors(sink: InMemorySink) -> None:
    assert divide.invoke({"a": 6, "b": 3}) == 2.0
    with pytest.raises(ZeroDivisionError) as raised:
        divide.invoke({"a": 1, "b": 0})
    assert raised.type is ZeroDivisionError
    ok, failed = recorded(sink)
    assert (ok.name, ok.attributes["kind"], ok.attributes["run_name"]) == ("langchain.tool", "tool", "divide")
    assert ok.attributes["input"] == {"a": 6, "b": 3} and ok.status == "ok"
    assert failed.status == "error" and failed.attributes["error"]["type"] == "ZeroDivisionError"


@tool
def lookup(city: str) -> str:
    """Look a city up, inside a span of the tool's own."""
    with peekr.span("geocode", city=city):
        return f"{city}: 48.86N"


def test_a_user_span_inside_a_tool_is_the_tool_runs_child(sink: InMemorySink) -> None:
    chain = RunnableLambda(lambda city: lookup.invoke({"city": city}), name="plan")
    with peekr.span("handle-request"):
        assert chain.invoke("Paris") == "Paris: 48.86N"
    spans = recorded(sink)
    assert tree(spans) == [
        "handle-request",
        "  langchain.chain [plan]",
        "    langchain.tool [lookup]",
        "      geocode",
    ]
    assert len({s.trace_id for s in spans}) == 1


def test_uninstrument_stops_recording_and_the_chain_still_works(server: FakeProvider, sink: InMemorySink) -> None:
    chain = make_chain(server)
    chain.invoke({"topic": "a"})
    peekr.uninstrument()
    assert chain.invoke({"topic": "b"}) == "Echo: Tell me about b"
    runs = [s.attributes.get("run_name") for s in recorded(sink) if s.name.startswith("langchain.")]
    assert runs == ["ChatPromptTemplate", "StrOutputParser", "RunnableSequence"]


@pytest.mark.swallows_internal_errors
def test_never_breaks_the_host_when_every_peekr_step_fails(server: FakeProvider, sink: InMemorySink) -> None:
    chain, reference = make_rag_chain(server), make_rag_chain(server)
    peekr.shutdown()
    expected = reference.invoke("How tall is the Eiffel Tower?")
    expected_chunks = list(reference.stream("How tall is the Eiffel Tower?"))
    peekr.instrument(storage="none", sinks=[sink])
    inject_faults(True)
    try:
        assert chain.invoke("How tall is the Eiffel Tower?") == expected
        assert list(chain.stream("How tall is the Eiffel Tower?")) == expected_chunks
        with pytest.raises(ZeroDivisionError):
            divide.invoke({"a": 1, "b": 0})
    finally:
        inject_faults(False)


def test_agent_actions_make_the_run_an_agent_span(sink: InMemorySink) -> None:
    """What an agent executor does through LangChain's callback manager: actions, then a finish."""
    from langchain_core.agents import AgentAction, AgentFinish
    from langchain_core.callbacks import CallbackManager

    manager = CallbackManager.configure()
    run = manager.on_chain_start(None, {"input": "weather?"}, name="AgentExecutor")
    run.on_agent_action(AgentAction(tool="get_weather", tool_input={"city": "Paris"}, log=""))
    run.on_agent_finish(AgentFinish(return_values={"output": "Sunny"}, log=""))
    run.on_chain_end({"output": "Sunny"})
    (span,) = recorded(sink)
    assert (span.name, span.attributes["kind"], span.attributes["run_name"]) == (
        "langchain.agent",
        "agent",
        "AgentExecutor",
    )
    assert span.attributes["agent_actions"] == [{"tool": "get_weather", "tool_input": {"city": "Paris"}}]
    assert span.attributes["agent_output"] == {"output": "Sunny"}


def test_open_runs_are_bounded_and_the_overflow_is_counted(sink: InMemorySink, monkeypatch: pytest.MonkeyPatch) -> None:
    from peekr.integrations.langchain import _handler

    monkeypatch.setattr(_handler, "MAX_OPEN_RUNS", 2)
    inner = RunnableLambda(lambda x: x + 1)  # type: ignore[var-annotated]
    middle = RunnableLambda(lambda x: inner.invoke(x) * 2)  # type: ignore[var-annotated]
    outer = RunnableLambda(lambda x: middle.invoke(x) - 1)  # type: ignore[var-annotated]
    assert outer.invoke(1) == 3  # three runs open at once: the oldest is given up
    spans = recorded(sink)
    assert [s.attributes["run_name"] for s in spans] == ["RunnableLambda", "RunnableLambda"]  # inner, middle
    assert peekr.stats().dropped[("integrations.langchain", "open_runs_limit")] == 1
