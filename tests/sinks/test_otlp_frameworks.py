"""Framework and vector-store spans over OTLP: ``kind`` -> ``openinference.span.kind``, retrieved documents ->
OpenInference ``retrieval.documents.{i}.document.*``. A real LlamaIndex query (llama-index-core, local LLM and
embedding) and spans in the shared shapes, exported to a real OTLP/HTTP receiver decoding real protobuf.
Attribute names come from ``openinference-semantic-conventions``, not literals.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from _otlp_receiver import Receiver, attrs, running_receiver

import peekr

OI = pytest.importorskip("openinference.semconv.trace")
from peekr.sinks.otlp import OTLPSink  # noqa: E402

S, D, K = OI.SpanAttributes, OI.DocumentAttributes, OI.OpenInferenceSpanKindValues
RETRIEVAL = {
    "query": "How tall is the Eiffel Tower?",
    "top_k": 2,
    "score_type": "similarity",
    "documents": [
        {"id": "eiffel", "score": 0.9, "text": "The Eiffel Tower is 330 metres tall.", "metadata": {"city": "Paris"}},
        {"id": "fuji", "score": 0.2, "text": "Mount Fuji is 3776 metres high."},
    ],
}


def doc(index: int, key: str) -> str:
    return f"{S.RETRIEVAL_DOCUMENTS}.{index}.{key}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def test_every_kind_maps_to_its_openinference_span_kind(receiver: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url)])
    for kind in ("chain", "graph_node", "tool", "agent", "retrieval", "embedding", "llm", "indexing"):
        with peekr.span(f"x.{kind}", kind=kind, framework="test"):
            pass
    assert peekr.shutdown()
    kinds = {s.name: attrs(s).get(S.OPENINFERENCE_SPAN_KIND) for s in receiver.spans()}
    assert kinds == {
        "x.chain": K.CHAIN.value,
        "x.graph_node": K.CHAIN.value,
        "x.tool": K.TOOL.value,
        "x.agent": K.AGENT.value,
        "x.retrieval": K.RETRIEVER.value,
        "x.embedding": K.EMBEDDING.value,
        "x.llm": K.LLM.value,
        "x.indexing": None,  # OpenInference has no kind for writes
    }


def test_retrieved_documents_are_openinference_documents(receiver: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url)])
    with peekr.span("qdrant.query_points", kind="retrieval", framework="qdrant", retrieval=RETRIEVAL):
        pass
    assert peekr.shutdown()
    (span,) = receiver.spans()
    a = attrs(span)
    assert a[S.OPENINFERENCE_SPAN_KIND] == K.RETRIEVER.value
    assert a[doc(0, D.DOCUMENT_ID)] == "eiffel" and a[doc(1, D.DOCUMENT_ID)] == "fuji"
    assert a[doc(0, D.DOCUMENT_SCORE)] == 0.9
    assert a[doc(0, D.DOCUMENT_CONTENT)] == "The Eiffel Tower is 330 metres tall."
    assert json.loads(a[doc(0, D.DOCUMENT_METADATA)]) == {"city": "Paris"} and doc(1, D.DOCUMENT_METADATA) not in a
    assert a[S.INPUT_VALUE] == RETRIEVAL["query"]  # a retriever's input is its query
    assert json.loads(a["peekr.retrieval"]) == RETRIEVAL  # the whole value, to rebuild the peekr span


def test_content_false_keeps_document_ids_and_scores_only(receiver: Receiver) -> None:
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url, content=False)])
    with peekr.span("langchain.retriever", kind="retrieval", retrieval=RETRIEVAL):
        pass
    assert peekr.shutdown()
    (span,) = receiver.spans()
    a = attrs(span)
    assert a[doc(0, D.DOCUMENT_ID)] == "eiffel" and a[doc(0, D.DOCUMENT_SCORE)] == 0.9
    assert doc(0, D.DOCUMENT_CONTENT) not in a and S.INPUT_VALUE not in a
    exported = json.dumps(a)
    assert "330 metres" not in exported and "Paris" not in exported and "How tall" not in exported
    assert json.loads(a["peekr.retrieval"])["documents"] == [
        {"id": "eiffel", "score": 0.9},
        {"id": "fuji", "score": 0.2},
    ]


def test_a_llamaindex_query_exports_its_tree_with_kinds(receiver: Receiver) -> None:
    from llama_app import OpenAIChat, close_event_loop, make_index

    index = make_index()
    peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url)])
    try:
        index.as_query_engine(llm=OpenAIChat(model="local-echo"), similarity_top_k=1).query(
            "How tall is the Eiffel Tower?"
        )
    finally:
        close_event_loop()
    assert peekr.shutdown()
    spans = {attrs(s).get("peekr.span.name", s.name): s for s in receiver.spans()}
    assert {name: attrs(s)[S.OPENINFERENCE_SPAN_KIND] for name, s in spans.items()} == {
        "llamaindex.query": "CHAIN",
        "llamaindex.retrieve": "RETRIEVER",
        "llamaindex.embedding": "EMBEDDING",
        "llamaindex.synthesize": "CHAIN",
        "llamaindex.llm": "LLM",
    }
    retrieve = attrs(spans["llamaindex.retrieve"])
    assert retrieve[doc(0, D.DOCUMENT_CONTENT)] == "The Eiffel Tower in Paris is 330 metres tall."
    assert retrieve[doc(0, D.DOCUMENT_SCORE)] > 0
    llm = attrs(spans["llamaindex.llm"])
    assert llm[S.LLM_MODEL_NAME] == "local-echo" and llm[S.LLM_TOKEN_COUNT_PROMPT] == 7
    assert spans["llamaindex.llm"].parent_span_id == spans["llamaindex.synthesize"].span_id
