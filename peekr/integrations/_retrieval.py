"""The one retrieval attribute shape, whatever framework or vector store produced it.

A retrieval span carries ``kind="retrieval"`` and::

    retrieval = {
        "query": str | list[str] | None,   # content: capture rules and caps apply; absent when off
        "top_k": int | None,               # how many documents were asked for
        "score_type": "distance" | "similarity" | None,  # what ``score`` means for this store
        "documents": [
            {"id": str | None, "score": float | None,
             "text": str,                  # content: cut at max_field_chars; absent when capture is off
             "metadata": {...},            # content: at most MAX_METADATA_KEYS keys; absent when off
             "query_index": int},          # only for a batch of several queries
            ...                            # at most MAX_DOCUMENTS; ``documents_total`` says how many came back
        ],
    }

Writes to a vector store (add / upsert) are not retrievals: they carry ``kind="indexing"`` and
``indexing = {"count": int, "ids": [str, ...]}`` (ids capped at MAX_DOCUMENTS), no document text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._capture import capture

__all__ = [
    "MAX_DOCUMENTS",
    "MAX_METADATA_KEYS",
    "document",
    "indexing_attribute",
    "retrieval_attribute",
]

#: Documents recorded per retrieval span (the rest are counted in ``documents_total``).
MAX_DOCUMENTS = 100
#: Metadata keys recorded per document.
MAX_METADATA_KEYS = 20


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def document(doc_id: Any, score: Any, text: Any, metadata: Any) -> dict[str, Any]:
    """One entry of ``retrieval.documents``: ids and scores always, text and metadata as content."""
    entry: dict[str, Any] = {"id": _id(doc_id), "score": _score(score)}
    if text is not None:
        captured = capture(text if isinstance(text, str) else str(text))
        if captured is not None:
            entry["text"] = captured
    if isinstance(metadata, Mapping) and metadata:
        bounded = dict(list(metadata.items())[:MAX_METADATA_KEYS])
        captured_metadata = capture(bounded)
        if captured_metadata is not None:
            entry["metadata"] = captured_metadata
    return entry


def retrieval_attribute(
    query: Any, top_k: Any, documents: Iterable[dict[str, Any]], score_type: str | None = None
) -> dict[str, Any]:
    """The ``retrieval`` attribute (see the module docstring)."""
    docs = list(documents)
    value: dict[str, Any] = {
        "top_k": top_k if isinstance(top_k, int) and not isinstance(top_k, bool) else None,
        "score_type": score_type,
        "documents": docs[:MAX_DOCUMENTS],
    }
    if len(docs) > MAX_DOCUMENTS:
        value["documents_total"] = len(docs)
    if query is not None:
        captured = capture(query)
        if captured is not None:
            value["query"] = captured
    return value


def indexing_attribute(ids: Any, count: int | None = None) -> dict[str, Any]:
    """The ``indexing`` attribute of an add / upsert span: how many records, their ids (capped)."""
    listed = [str(i) for i in ids] if isinstance(ids, (list, tuple)) else ([] if ids is None else [str(ids)])
    return {"count": count if count is not None else len(listed), "ids": listed[:MAX_DOCUMENTS]}
