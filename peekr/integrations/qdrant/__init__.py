"""Qdrant integration: searches as retrieval spans, upserts as indexing spans.

Patched (class level) on ``qdrant_client.QdrantClient`` and ``AsyncQdrantClient`` (remote and
``:memory:`` / local mode alike): ``query_points`` -> ``qdrant.query_points``, ``search`` (clients
that still have it) -> ``qdrant.search``, both ``kind="retrieval"`` with the shared ``retrieval``
attribute (``score_type="similarity"``: Qdrant's score as returned, best first; for a Euclid
collection it is the distance); ``upsert`` -> ``qdrant.upsert`` (``kind="indexing"``). A document's
text is the first string payload field among ``text``, ``page_content``, ``document``,
``content``; the rest of the payload is its metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from ..._tracer import ActiveSpan
from .._base import Integration, patch
from .._retrieval import document, indexing_attribute, retrieval_attribute
from .._wrap import wrap_async, wrap_sync

__all__ = ["QdrantIntegration"]

_TEXT_KEYS = ("text", "page_content", "document", "content")


class QdrantIntegration(Integration):
    """Records Qdrant searches and upserts."""

    identifier = "qdrant"
    distribution = "qdrant-client"
    package = "qdrant_client"
    min_version = "1.10.0"
    extra = "qdrant"

    def hooks(self) -> Mapping[str, Callable[[ModuleType], None]]:
        """Module name -> patch function."""
        return {
            "qdrant_client.qdrant_client": lambda m: _patch(m.QdrantClient, wrap_sync),
            "qdrant_client.async_qdrant_client": lambda m: _patch(m.AsyncQdrantClient, wrap_async),
        }


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], name: str, index: int, default: Any = None) -> Any:
    return kwargs[name] if name in kwargs else args[index] if len(args) > index else default


def _query_text(query: Any) -> str | None:
    text = getattr(query, "text", None)  # models.Document(text=..., model=...)
    if isinstance(text, str):
        return text
    nearest = getattr(query, "nearest", None)  # models.NearestQuery(nearest=Document(...))
    text = getattr(nearest, "text", None)
    return text if isinstance(text, str) else None


def _describe_search(operation: str, query_name: str) -> Callable[..., tuple[str, dict[str, Any]]]:
    def describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        attributes: dict[str, Any] = {"kind": "retrieval", "framework": "qdrant", "db.operation": operation}
        collection = _arg(args, kwargs, "collection_name", 0)
        if isinstance(collection, str):
            attributes["collection"] = collection
        query = _query_text(_arg(args, kwargs, query_name, 1))
        attributes["retrieval"] = retrieval_attribute(query, kwargs.get("limit", 10), (), "similarity")
        return f"qdrant.{operation}", attributes

    return describe


def _point(point: Any) -> dict[str, Any]:
    payload = getattr(point, "payload", None)
    text = None
    metadata: dict[str, Any] = {}
    if isinstance(payload, Mapping):
        for key in _TEXT_KEYS:
            if isinstance(payload.get(key), str):
                text = payload[key]
                metadata = {k: v for k, v in payload.items() if k != key}
                break
        else:
            metadata = dict(payload)
    return document(getattr(point, "id", None), getattr(point, "score", None), text, metadata)


def _record_search(span: ActiveSpan, result: Any, kwargs: dict[str, Any]) -> Any:
    points = getattr(result, "points", result)  # QueryResponse, or a plain list from search()
    retrieval = span.attributes.get("retrieval") or {}
    documents = [_point(p) for p in points] if isinstance(points, list) else []
    value = retrieval_attribute(None, retrieval.get("top_k"), documents, "similarity")
    if "query" in retrieval:
        value["query"] = retrieval["query"]
    span.attributes["retrieval"] = value
    span.end()
    return result


def _describe_upsert(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    attributes: dict[str, Any] = {"kind": "indexing", "framework": "qdrant", "db.operation": "upsert"}
    collection = _arg(args, kwargs, "collection_name", 0)
    if isinstance(collection, str):
        attributes["collection"] = collection
    points = _arg(args, kwargs, "points", 1)
    if isinstance(points, (list, tuple)):
        attributes["indexing"] = indexing_attribute([getattr(p, "id", None) for p in points])
    else:  # a Batch: ids listed in .ids
        ids = getattr(points, "ids", None)
        attributes["indexing"] = indexing_attribute(ids if isinstance(ids, list) else None)
    return "qdrant.upsert", attributes


def _end(span: ActiveSpan, result: Any, kwargs: dict[str, Any]) -> Any:
    span.end()
    return result


def _patch(cls: type, wrap: Callable[..., Callable[[Any], Any]]) -> None:
    patch(cls, "query_points", wrap("qdrant.query_points", _describe_search("query_points", "query"), _record_search))
    patch(cls, "search", wrap("qdrant.search", _describe_search("search", "query_vector"), _record_search))
    patch(cls, "upsert", wrap("qdrant.upsert", _describe_upsert, _end))
