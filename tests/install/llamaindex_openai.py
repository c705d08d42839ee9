"""The real ``llama-index-llms-openai`` (which needs ``openai<3``) under peekr, in a venv of its own.

Run by ``test_extras_smoke.py`` with the python of a throwaway venv holding ``peekr-sdk[llamaindex,openai]``
and ``llama-index-llms-openai`` (so openai 2.x). A query engine over an in-memory index (a local
embedding) with ``llama_index.llms.openai.OpenAI`` on the fake provider, sync and async. Prints one
JSON line: the OpenAI version, the answers with peekr off and on, and the recorded spans.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from typing import Any


def main() -> None:
    # Known race, reported separately: instrument() imports genai-prices on a background thread, which
    # imports httpx2; openai 2.x reads sys.modules["httpx2"] while building a client and can meet the
    # half-imported module (AttributeError: partially initialized module 'httpx2'). Import it first.
    import genai_prices  # noqa: F401
    import openai
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.llms.openai import OpenAI

    import peekr
    from peekr.sinks.memory import InMemorySink
    from peekr.testing.fake_provider import FakeProvider

    class HashEmbedding(BaseEmbedding):
        def _vector(self, text: str) -> list[float]:
            vector = [0.0] * 32
            for word in text.lower().split():
                vector[int(hashlib.sha1(word.encode()).hexdigest(), 16) % 32] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            return [v / norm for v in vector]

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._vector(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._vector(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._vector(text)

    docs = [Document(text="The Eiffel Tower is 330 metres tall."), Document(text="Mount Fuji is 3776 metres high.")]
    index = VectorStoreIndex.from_documents(docs, embed_model=HashEmbedding())
    with FakeProvider() as fake:

        def engine() -> Any:
            llm = OpenAI(model="gpt-4o-mini", api_base=fake.openai_base_url, api_key="sk-fake", max_retries=0)
            return index.as_query_engine(llm=llm, similarity_top_k=1)

        question = "How tall is the Eiffel Tower?"
        off = str(engine().query(question))
        sink = InMemorySink()
        peekr.instrument(storage="none", sinks=[sink])
        on = str(engine().query(question))
        on_async = str(asyncio.run(engine().aquery(question)))
        assert peekr.flush(timeout=30)
        by_id = {s.span_id: s for s in sink.spans}
        spans = [
            {
                "name": s.name,
                "parent": by_id[s.parent_id].name if s.parent_id in by_id else None,
                "trace": s.trace_id,
                "documents": len((s.attributes.get("retrieval") or {}).get("documents", [])),
            }
            for s in sorted(sink.spans, key=lambda s: s.start_time)
        ]
        peekr.shutdown()
    print(json.dumps({"openai": openai.__version__, "off": off, "on": on, "async": on_async, "spans": spans}))


if __name__ == "__main__":
    main()
