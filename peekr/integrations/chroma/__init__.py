"""Chroma integration: collection queries as retrieval spans, adds and upserts as indexing spans.

Patched (class level): ``chromadb.api.models.Collection.Collection.query`` / ``.add`` / ``.upsert``
and the ``AsyncCollection`` versions -> ``chroma.query`` (``kind="retrieval"``, the shared
``retrieval`` attribute, ``score_type="distance"``: Chroma returns distances, lower is closer),
``chroma.add`` / ``chroma.upsert`` (``kind="indexing"``). The span is the current span during the
call, so an embedding function that calls a patched provider records its span as a child.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from ..._tracer import ActiveSpan
from .._base import Integration, patch
from .._retrieval import document, indexing_attribute, retrieval_attribute
from .._wrap import wrap_async, wrap_sync

__all__ = ["ChromaIntegration"]


class ChromaIntegration(Integration):
    """Records Chroma collection queries, adds and upserts."""

    identifier = "chroma"
    distribution = "chromadb"
    package = "chromadb"
    min_version = "0.5.0"
    extra = "chroma"

    def hooks(self) -> Mapping[str, Callable[[ModuleType], None]]:
        """Module name -> patch function."""
        return {
            "chromadb.api.models.Collection": lambda m: _patch(m.Collection, wrap_sync),
            "chromadb.api.models.AsyncCollection": lambda m: _patch(m.AsyncCollection, wrap_async),
        }


def _base(instance: Any, operation: str, kind: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"kind": kind, "framework": "chroma", "db.operation": operation}
    name = getattr(instance, "name", None)
    if isinstance(name, str):
        attributes["collection"] = name
    return attributes


def _describe_query(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    attributes = _base(instance, "query", "retrieval")
    texts = kwargs.get("query_texts", args[1] if len(args) > 1 else None)
    query: Any = None
    if isinstance(texts, str):
        query = texts
    elif isinstance(texts, (list, tuple)) and texts:
        query = texts[0] if len(texts) == 1 else list(texts)
    n_results = kwargs.get("n_results", args[5] if len(args) > 5 else 10)
    attributes["retrieval"] = retrieval_attribute(query, n_results, (), "distance")
    return "chroma.query", attributes


def _nth(rows: Any, i: int) -> Any:
    return rows[i] if isinstance(rows, (list, tuple)) and i < len(rows) else None


def _record_query(span: ActiveSpan, result: Any, kwargs: dict[str, Any]) -> Any:
    ids = result.get("ids") if isinstance(result, Mapping) else None
    documents: list[dict[str, Any]] = []
    if isinstance(ids, list):
        texts, metadatas, distances = (result.get(k) for k in ("documents", "metadatas", "distances"))
        several = len(ids) > 1
        for q, row in enumerate(ids):
            for j, doc_id in enumerate(row or ()):
                entry = document(
                    doc_id, _nth(_nth(distances, q), j), _nth(_nth(texts, q), j), _nth(_nth(metadatas, q), j)
                )
                if several:
                    entry["query_index"] = q
                documents.append(entry)
    retrieval = span.attributes.get("retrieval") or {}
    value = retrieval_attribute(None, retrieval.get("top_k"), documents, "distance")
    if "query" in retrieval:
        value["query"] = retrieval["query"]
    span.attributes["retrieval"] = value
    span.end()
    return result


def _describe_write(operation: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], tuple[str, dict[str, Any]]]:
    def describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        attributes = _base(instance, operation, "indexing")
        attributes["indexing"] = indexing_attribute(kwargs.get("ids", args[0] if args else None))
        return f"chroma.{operation}", attributes

    return describe


def _end(span: ActiveSpan, result: Any, kwargs: dict[str, Any]) -> Any:
    span.end()
    return result


def _patch(cls: type, wrap: Callable[..., Callable[[Any], Any]]) -> None:
    patch(cls, "query", wrap("chroma.query", _describe_query, _record_query, activate=True))
    for operation in ("add", "upsert"):
        patch(cls, operation, wrap(f"chroma.{operation}", _describe_write(operation), _end, activate=True))
