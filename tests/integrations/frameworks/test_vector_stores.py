"""Chroma (in-memory client) and Qdrant (``:memory:``) with the real libraries: queries as retrieval
spans in the shared shape, adds/upserts as indexing spans, an embedding function's OpenAI call as
the child of the query that made it, and the host's results identical with peekr off."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import chromadb
import pytest
from _fw_spans import recorded, tree
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from qdrant_client import AsyncQdrantClient, QdrantClient, models

import peekr
from peekr._redact import REDACTED
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

DOCS = {
    "d1": "The Eiffel Tower is in Paris.",
    "d2": "The Eiffel Tower is 330 metres tall.",
    "d3": "Owls hunt at night.",
}


def vector(text: str, size: int = 8) -> list[float]:
    """A deterministic local embedding (no model download): bytes of the text's hash."""
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255 for b in digest[:size]]


class HashEmbedding(EmbeddingFunction[Documents]):
    """A deterministic Chroma embedding function."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return [vector(t) for t in input]  # type: ignore[misc]

    @staticmethod
    def name() -> str:
        return "peekr-test-hash"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashEmbedding:
        return HashEmbedding()


class OpenAIEmbedding(HashEmbedding):
    """Asks the fake provider for embeddings first (so a provider call happens inside the query)."""

    def __init__(self, fake: FakeProvider) -> None:
        self.client = fake.openai_client(in_process=True)

    def __call__(self, input: Documents) -> Embeddings:
        self.client.embeddings.create(model="text-embedding-3-small", input=list(input))
        return super().__call__(input)


@pytest.fixture
def collection_name() -> str:
    return f"c{uuid.uuid4().hex[:8]}"


def chroma_run(name: str, embedding: EmbeddingFunction[Documents]) -> Any:
    client = chromadb.EphemeralClient()
    collection = client.create_collection(name, embedding_function=embedding)  # type: ignore[arg-type]
    collection.add(ids=list(DOCS), documents=list(DOCS.values()), metadatas=[{"n": i} for i in range(3)])
    result = collection.query(query_texts=["How tall is the Eiffel Tower?"], n_results=2)
    client.delete_collection(name)
    return result


def test_chroma_query_and_add(collection_name: str) -> None:
    expected = chroma_run(collection_name, HashEmbedding())
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    with peekr.span("rag"):
        result = chroma_run(collection_name, HashEmbedding())
    assert result == expected

    spans = recorded(sink)
    assert tree(spans) == ["rag", "  chroma.add", "  chroma.query"]
    add, query = (next(s for s in spans if s.name == n) for n in ("chroma.add", "chroma.query"))
    assert add.attributes["kind"] == "indexing" and add.attributes["indexing"] == {
        "count": 3,
        "ids": ["d1", "d2", "d3"],
    }
    assert add.attributes["collection"] == collection_name
    assert query.attributes["kind"] == "retrieval" and query.attributes["framework"] == "chroma"
    retrieval = query.attributes["retrieval"]
    assert retrieval["query"] == "How tall is the Eiffel Tower?" and retrieval["top_k"] == 2
    assert retrieval["score_type"] == "distance"
    assert [d["id"] for d in retrieval["documents"]] == expected["ids"][0]
    assert [d["score"] for d in retrieval["documents"]] == pytest.approx(expected["distances"][0])
    assert [d["text"] for d in retrieval["documents"]] == expected["documents"][0]
    assert [d["metadata"] for d in retrieval["documents"]] == expected["metadatas"][0]


def test_chroma_embedding_call_is_a_child_of_the_query(collection_name: str) -> None:
    fake = FakeProvider()
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    chroma_run(collection_name, OpenAIEmbedding(fake))
    spans = recorded(sink)
    assert tree(spans) == [
        "chroma.add",
        "  openai.embeddings",
        "chroma.query",
        "  openai.embeddings",
    ]


def test_chroma_batch_query_marks_each_document_with_its_query(collection_name: str, sink: InMemorySink) -> None:
    client = chromadb.EphemeralClient()
    collection = client.create_collection(collection_name, embedding_function=HashEmbedding())  # type: ignore[arg-type]
    collection.add(ids=list(DOCS), documents=list(DOCS.values()))
    collection.query(query_texts=["tower", "owls"], n_results=1)
    client.delete_collection(collection_name)
    retrieval = next(s for s in recorded(sink) if s.name == "chroma.query").attributes["retrieval"]
    assert retrieval["query"] == ["tower", "owls"]
    assert [d["query_index"] for d in retrieval["documents"]] == [0, 1]


def qdrant_points() -> list[models.PointStruct]:
    return [
        models.PointStruct(id=i, vector=vector(text), payload={"text": text, "source": "wiki"})
        for i, text in enumerate(DOCS.values(), start=1)
    ]


def qdrant_run(client: QdrantClient) -> Any:
    client.create_collection("docs", vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE))
    client.upsert("docs", points=qdrant_points())
    return client.query_points("docs", query=vector(DOCS["d2"]), limit=2)


@pytest.fixture
def qdrant() -> Iterator[QdrantClient]:
    client = QdrantClient(":memory:")
    yield client
    client.close()


def check_qdrant(spans: list[Any], expected: Any) -> None:
    assert tree(spans) == ["rag", "  qdrant.upsert", "  qdrant.query_points"]
    upsert, query = (next(s for s in spans if s.name == n) for n in ("qdrant.upsert", "qdrant.query_points"))
    assert upsert.attributes["indexing"] == {"count": 3, "ids": ["1", "2", "3"]}
    assert query.attributes["kind"] == "retrieval" and query.attributes["collection"] == "docs"
    retrieval = query.attributes["retrieval"]
    assert retrieval["top_k"] == 2 and retrieval["score_type"] == "similarity"
    assert "query" not in retrieval  # a raw vector is not a query text
    assert [d["id"] for d in retrieval["documents"]] == [str(p.id) for p in expected.points]
    assert [d["score"] for d in retrieval["documents"]] == pytest.approx([p.score for p in expected.points])
    assert retrieval["documents"][0]["text"] == DOCS["d2"]
    assert retrieval["documents"][0]["metadata"] == {"source": "wiki"}


def test_qdrant_query_points_and_upsert() -> None:
    reference = QdrantClient(":memory:")
    expected = qdrant_run(reference)
    reference.close()
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    client = QdrantClient(":memory:")
    with peekr.span("rag"):
        result = qdrant_run(client)
    client.close()
    assert result == expected
    check_qdrant(recorded(sink), expected)


@pytest.mark.anyio
async def test_async_qdrant_client(anyio_backend: Any) -> None:
    async def run(client: AsyncQdrantClient) -> Any:
        await client.create_collection(
            "docs", vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE)
        )
        await client.upsert("docs", points=qdrant_points())
        return await client.query_points("docs", query=vector(DOCS["d2"]), limit=2)

    reference = AsyncQdrantClient(":memory:")
    expected = await run(reference)
    await reference.close()
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    client = AsyncQdrantClient(":memory:")
    with peekr.span("rag"):
        result = await run(client)
    await client.close()
    assert result == expected
    check_qdrant(recorded(sink), expected)


def test_pii_query_keeps_ids_and_scores_only(qdrant: QdrantClient, sink: InMemorySink) -> None:
    with peekr.session(retention_class="pii"), peekr.span("rag"):
        qdrant_run(qdrant)
    query = next(s for s in recorded(sink) if s.name == "qdrant.query_points")
    retrieval = query.attributes["retrieval"]
    assert retrieval["top_k"] == 2 and query.attributes["kind"] == "retrieval"
    for doc in retrieval["documents"]:
        assert doc["text"] == REDACTED and doc["metadata"] == REDACTED
        assert isinstance(doc["id"], str) and isinstance(doc["score"], float)


def test_qdrant_errors_pass_through_and_mark_the_span(qdrant: QdrantClient, sink: InMemorySink) -> None:
    with pytest.raises(ValueError, match="not found") as raised:
        qdrant.query_points("missing", query=vector("x"), limit=2)
    span = next(s for s in recorded(sink) if s.name == "qdrant.query_points")
    assert span.status == "error" and span.attributes["error"]["type"] == "ValueError"
    assert str(raised.value) in span.attributes["error"]["message"]
