"""LlamaIndex with the real library: a query engine over an in-memory ``VectorStoreIndex`` (a deterministic
local embedding), its LLM calling the real ``openai`` SDK on the fake provider over HTTP.

Each test asserts the span tree (one trace, the provider span the child of the LlamaIndex synthesis
around it, exactly one span per model call) and compares the host's answer with peekr off.
LlamaIndex's async API runs on asyncio only, so the async tests do too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from _fw_spans import recorded, tree
from llama_app import DOCS, HashEmbedding, OpenAIChat, close_event_loop, make_index
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

import peekr
from peekr._errors import inject_faults
from peekr._redact import REDACTED
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])
QUESTION = "How tall is the Eiffel Tower?"
QUERY_TREE = [
    "llamaindex.query [RetrieverQueryEngine]",
    "  llamaindex.retrieve [VectorIndexRetriever]",
    "    llamaindex.embedding [HashEmbedding]",
    "  llamaindex.synthesize [CompactAndRefine]",
    "    openai.chat.completions",
]


@pytest.fixture(autouse=True)
def _close_llamaindex_event_loop() -> Iterator[None]:
    yield
    close_event_loop()


@pytest.fixture(scope="module")
def index() -> Any:
    """Built once, with peekr off (indexing embeds the documents: not what these tests look at)."""
    return make_index()


@pytest.fixture
def clients(server: FakeProvider) -> Iterator[tuple[openai.OpenAI, None]]:
    """The sync client (the async test opens an async one on its own event loop)."""
    with openai.OpenAI(base_url=server.openai_base_url, api_key="sk-fake", max_retries=0) as sync:
        yield sync, None


def engine(index: Any, clients: tuple[Any, Any], model: str = "gpt-4o-mini") -> Any:
    llm = OpenAIChat(model=model, client=clients[0], aclient=clients[1])
    return index.as_query_engine(llm=llm, similarity_top_k=2)


def peekr_handlers() -> list[str]:
    root = get_dispatcher()
    return [type(h).__name__ for h in [*root.span_handlers, *root.event_handlers] if "Peekr" in type(h).__name__]


def test_query_one_trace_provider_span_child_of_the_synthesis(index: Any, clients: Any) -> None:
    expected = str(engine(index, clients).query(QUESTION))  # peekr off
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    assert str(engine(index, clients).query(QUESTION)) == expected
    assert expected.startswith("Echo: Context information is below.")

    spans = recorded(sink)
    assert tree(spans) == QUERY_TREE
    assert len({s.trace_id for s in spans}) == 1
    names = [s.name for s in spans]
    assert names.count("openai.chat.completions") == 1 and "llamaindex.llm" not in names  # one span per call
    by_name = {s.name: s for s in spans}
    query = by_name["llamaindex.query"]
    assert query.attributes["kind"] == "chain" and query.attributes["framework"] == "llamaindex"
    assert query.attributes["input"] == QUESTION and query.attributes["output"] == expected
    retrieval = by_name["llamaindex.retrieve"].attributes
    assert retrieval["kind"] == "retrieval"
    assert retrieval["retrieval"]["query"] == QUESTION and retrieval["retrieval"]["top_k"] == 2
    assert retrieval["retrieval"]["score_type"] == "similarity"
    documents = retrieval["retrieval"]["documents"]
    assert [d["text"] for d in documents][0] == dict(DOCS)["eiffel"] and len(documents) == 2
    assert documents[0]["metadata"] == {"source": "eiffel"} and documents[0]["score"] > documents[1]["score"]
    assert by_name["llamaindex.embedding"].attributes["kind"] == "embedding"
    assert by_name["llamaindex.embedding"].attributes["embedding_dimensions"] == 64
    provider = by_name["openai.chat.completions"]
    assert provider.attributes["tokens_input"] > 0 and provider.attributes["model"] == "gpt-4o-mini"


@asyncio_only
@pytest.mark.anyio
async def test_async_query_same_tree(index: Any, server: FakeProvider) -> None:
    async with openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="sk-fake", max_retries=0) as aclient:
        expected = str(await engine(index, (None, aclient)).aquery(QUESTION))
        sink = InMemorySink()
        peekr.instrument(storage="none", sinks=[sink])
        assert str(await engine(index, (None, aclient)).aquery(QUESTION)) == expected
    spans = recorded(sink)
    assert tree(spans) == QUERY_TREE
    assert len({s.trace_id for s in spans}) == 1


def test_query_inside_a_user_span_joins_its_trace(index: Any, clients: Any, sink: InMemorySink) -> None:
    with peekr.span("handle-request"):
        engine(index, clients).query(QUESTION)
    assert tree(recorded(sink)) == ["handle-request", *("  " + line for line in QUERY_TREE)]


def test_failing_query_keeps_the_hosts_exception(index: Any, clients: Any, sink: InMemorySink) -> None:
    with pytest.raises(openai.InternalServerError) as raised:
        engine(index, clients, model="gpt-4o-error-500").query(QUESTION)
    assert type(raised.value) is openai.InternalServerError and "fake error 500" in str(raised.value)
    spans = recorded(sink)
    assert tree(spans) == QUERY_TREE
    status = {s.name: s.status for s in spans}
    assert status["llamaindex.query"] == status["llamaindex.synthesize"] == "error"
    assert status["openai.chat.completions"] == "error" and status["llamaindex.retrieve"] == "ok"
    query = next(s for s in spans if s.name == "llamaindex.query")
    assert query.attributes["error"]["type"] == "openai.InternalServerError"


def test_llm_through_a_provider_peekr_does_not_patch_is_an_llm_span(index: Any, sink: InMemorySink) -> None:
    answer = str(index.as_query_engine(llm=OpenAIChat(model="local-echo"), similarity_top_k=1).query(QUESTION))
    assert answer.startswith("Local: Context information is below.")
    spans = recorded(sink)
    assert tree(spans)[-1] == "    llamaindex.llm [OpenAIChat]"
    llm = next(s for s in spans if s.name == "llamaindex.llm")
    assert llm.attributes["kind"] == "llm" and llm.attributes["model"] == "local-echo"
    assert (llm.attributes["tokens_input"], llm.attributes["tokens_output"], llm.attributes["tokens_total"]) == (
        7,
        5,
        12,
    )
    assert llm.attributes["input"][-1]["role"] == "user" and llm.attributes["output"]["content"] == answer


def test_streamed_query_ends_the_llm_span_when_the_stream_is_consumed(index: Any, sink: InMemorySink) -> None:
    """LlamaIndex starts a streamed synthesis's LLM call when the caller reads the stream, after the query
    returned: the LLM span is then the child of whatever span is current there (here: the request)."""
    engine = index.as_query_engine(llm=OpenAIChat(model="local-echo"), similarity_top_k=1, streaming=True)
    with peekr.span("handle-request"):
        response = engine.query(QUESTION)
        assert "llamaindex.llm" not in [s.name for s in recorded(sink)]  # not started yet
        text = "".join(response.response_gen)
    assert text.startswith("Local: Context information is below.")
    spans = recorded(sink)
    assert tree(spans) == [
        "handle-request",
        "  llamaindex.query [RetrieverQueryEngine]",
        "    llamaindex.retrieve [VectorIndexRetriever]",
        "      llamaindex.embedding [HashEmbedding]",
        "    llamaindex.synthesize [CompactAndRefine]",
        "  llamaindex.llm [OpenAIChat]",
    ]
    llm = next(s for s in spans if s.name == "llamaindex.llm")
    assert llm.attributes["stream"] is True and llm.attributes["ttft_ms"] >= 0
    assert llm.attributes["output"]["content"] == text


class Geocoder(BaseRetriever):
    """A retriever of the host's own that opens a peekr span and calls OpenAI inside it."""

    def __init__(self, client: openai.OpenAI) -> None:
        super().__init__()
        self.client = client

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        with peekr.span("geocode"):
            reply = self.client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": query_bundle.query_str}]
            )
        return [NodeWithScore(node=TextNode(text=str(reply.choices[0].message.content), id_="n1"), score=0.5)]


def test_user_span_and_provider_call_inside_a_retriever_nest_under_it(clients: Any, sink: InMemorySink) -> None:
    query_engine = RetrieverQueryEngine.from_args(Geocoder(clients[0]), llm=OpenAIChat(model="local-echo"))
    query_engine.query("Paris")
    spans = recorded(sink)
    assert tree(spans) == [
        "llamaindex.query [RetrieverQueryEngine]",
        "  llamaindex.retrieve [Geocoder]",
        "    geocode",
        "      openai.chat.completions",
        "  llamaindex.synthesize [CompactAndRefine]",
        "    llamaindex.llm [OpenAIChat]",
    ]
    retrieval = next(s for s in spans if s.name == "llamaindex.retrieve").attributes["retrieval"]
    assert retrieval["documents"] == [{"id": "n1", "score": 0.5, "text": "Echo: Paris"}]


def test_pii_session_redacts_retrieved_text_and_keeps_ids(index: Any, clients: Any, sink: InMemorySink) -> None:
    with peekr.session(retention_class="pii"):
        engine(index, clients).query(QUESTION)
    retrieval = next(s for s in recorded(sink) if s.name == "llamaindex.retrieve").attributes["retrieval"]
    assert retrieval["query"] == REDACTED
    assert all(d["text"] == REDACTED and d["id"] for d in retrieval["documents"])


def test_uninstrument_removes_the_handlers_and_reinstrument_adds_them_once(index: Any, clients: Any) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    assert peekr_handlers() == ["PeekrSpanHandler", "PeekrEventHandler"]
    peekr.uninstrument()
    assert peekr_handlers() == []
    expected = str(engine(index, clients).query(QUESTION))
    assert recorded(sink) == []
    peekr.instrument(storage="none", sinks=[sink])
    peekr.instrument(storage="none", sinks=[sink])  # twice: still one handler of each
    assert peekr_handlers() == ["PeekrSpanHandler", "PeekrEventHandler"]
    assert str(engine(index, clients).query(QUESTION)) == expected
    assert len(recorded(sink)) == len(QUERY_TREE)


@pytest.mark.swallows_internal_errors
def test_never_breaks_the_host_when_every_peekr_step_fails(index: Any, clients: Any, sink: InMemorySink) -> None:
    expected = str(engine(index, clients).query(QUESTION))
    inject_faults(True)
    try:
        assert str(engine(index, clients).query(QUESTION)) == expected
        with pytest.raises(openai.InternalServerError):
            engine(index, clients, model="gpt-4o-error-500").query(QUESTION)
    finally:
        inject_faults(False)


def test_open_spans_are_bounded_and_the_overflow_is_counted(
    index: Any, sink: InMemorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peekr.integrations.llamaindex import _handler

    monkeypatch.setattr(_handler, "MAX_OPEN", 2)
    index.as_query_engine(llm=OpenAIChat(model="local-echo"), similarity_top_k=1).query(QUESTION)
    spans = recorded(sink)
    assert spans and "llamaindex.query" not in [s.name for s in spans]  # the oldest open one was given up
    assert peekr.stats().dropped[("integrations.llamaindex", "open_spans_limit")] >= 1


def test_embedding_through_openai_is_one_provider_span(server: FakeProvider, clients: Any, sink: InMemorySink) -> None:
    from llama_index.core.base.embeddings.base import BaseEmbedding

    class OpenAIEmbedding(BaseEmbedding):
        client: Any = None

        def _get_query_embedding(self, query: str) -> list[float]:
            return list(self.client.embeddings.create(model="text-embedding-3-small", input=[query]).data[0].embedding)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._get_query_embedding(text)

    vector = OpenAIEmbedding(client=clients[0]).get_query_embedding("owls")
    assert vector and HashEmbedding().get_query_embedding("owls")
    names = [s.name for s in recorded(sink)]
    assert names.count("openai.embeddings") == 1 and names.count("llamaindex.embedding") == 1  # the local one


IMPORT_ORDER = """
import json, sys
import peekr
from peekr.sinks.memory import InMemorySink

sink = InMemorySink()
peekr.instrument(storage="none", sinks=[sink])
assert "llama_index.core" not in sys.modules
from llama_app import OpenAIChat, make_index

make_index().as_query_engine(llm=OpenAIChat(model="local-echo"), similarity_top_k=1).query("Fuji?")
peekr.flush()
print(json.dumps(sorted(s.name for s in sink.spans)))
peekr.shutdown()
"""


def test_instrument_before_llamaindex_is_imported(tmp_path: Any) -> None:
    """A fresh interpreter: ``instrument()`` first, LlamaIndex imported afterwards."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": str(here.parents[1] / "_helpers")}
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ORDER], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    names = json.loads(result.stdout.strip().splitlines()[-1])
    assert names.count("llamaindex.query") == 1 and "llamaindex.retrieve" in names and "llamaindex.llm" in names


def test_hallucination_default_context_is_the_llamaindex_retrieval(index: Any) -> None:
    from peekr.evaluators import Hallucination
    from peekr.evaluators._fake_judge import FakeJudge

    judge = FakeJudge()
    answer = "The Eiffel Tower in Paris is 330 metres tall. The Eiffel Tower is 500 metres tall."

    def responder(request: dict[str, Any]) -> str:
        last = request["messages"][-1]["content"]
        return answer if last.startswith("Context information is below.") else judge(request)

    with (
        FakeProvider(chat_responder=responder) as fake,
        openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0) as client,
    ):
        grader = peekr.eval.OpenAIJudge("gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        sink = InMemorySink()
        peekr.instrument(storage="none", sinks=[sink], evaluators=[Hallucination(judge=grader)])
        assert str(engine(index, (client, None)).query(QUESTION)) == answer
        assert peekr.flush(timeout=30)
    span = next(s for s in sink.spans if s.name == "openai.chat.completions")
    assert span.attributes["eval_scores"]["hallucination"] == 0.5
    assert span.attributes["hallucination_eval"]["notes"][0] == "context: 2 documents retrieved in this trace"
    verdicts = {d["claim"]: d["verdict"] for d in span.attributes["hallucination_details"]}
    assert verdicts == {
        "The Eiffel Tower in Paris is 330 metres tall": "supported",
        "The Eiffel Tower is 500 metres tall": "contradicted",
    }
