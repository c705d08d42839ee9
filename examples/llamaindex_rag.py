"""A LlamaIndex query engine, traced and scored for hallucination with no extra code.

`peekr.instrument()` records the LlamaIndex query, its retrieval (with the retrieved documents), the
query embedding, the synthesis and the OpenAI call beneath it as one trace: the OpenAI call appears
once, as the `openai.chat.completions` span, child of the synthesis. `peekr.eval.Hallucination()`
without a context extractor checks the answer against the documents retrieved in the same trace.
Offline: the fake provider plays the app's model and the judge; the index is in memory with a
deterministic local embedding (no model download). Writes traces.db; then try `peekr view traces.db --io`.

The LLM here is a LlamaIndex chat LLM over the `openai` SDK, built like `llama-index-llms-openai`'s
`OpenAI` class (which needs `openai<3`; with it installed, `OpenAI(model=..., api_base=...)` is a
drop-in replacement and is recorded the same way).
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from collections.abc import Sequence
from typing import Any

import openai

import peekr
from peekr.evaluators._fake_judge import FakeJudge  # a deterministic judge for offline demos
from peekr.testing.fake_provider import FakeProvider

DOCUMENTS = [
    "The Eiffel Tower is in Paris.",
    "The Eiffel Tower was completed in 1889.",
    "Mount Fuji is in Japan.",
]
# What our (imaginary) model answers: two faithful sentences, one wrong number.
ANSWER = "The Eiffel Tower is in Paris. The Eiffel Tower was completed in 1889. The Eiffel Tower is 500 metres tall."


def main() -> None:
    judge = FakeJudge()

    def responder(request: dict[str, Any]) -> str:
        last = request["messages"][-1]["content"]
        return ANSWER if last.startswith("Context information is below.") else judge(request)

    with FakeProvider(chat_responder=responder) as fake:
        peekr.instrument(
            storage="sqlite",
            path="traces.db",
            evaluators=[
                # No context_extractor: the documents retrieved in the same trace are the context.
                peekr.eval.Hallucination(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake")
            ],
        )

        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core.base.embeddings.base import BaseEmbedding
        from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, LLMMetadata
        from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
        from llama_index.core.llms.custom import CustomLLM

        class HashEmbedding(BaseEmbedding):
            """A deterministic local embedding: hashed words (stands in for a real model)."""

            def _vector(self, text: str) -> list[float]:
                vector = [0.0] * 64
                for word in text.lower().split():
                    vector[int(hashlib.sha1(word.strip(".,?").encode()).hexdigest(), 16) % 64] += 1.0
                norm = math.sqrt(sum(v * v for v in vector)) or 1.0
                return [v / norm for v in vector]

            def _get_query_embedding(self, query: str) -> list[float]:
                return self._vector(query)

            async def _aget_query_embedding(self, query: str) -> list[float]:
                return self._vector(query)

            def _get_text_embedding(self, text: str) -> list[float]:
                return self._vector(text)

        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)

        class OpenAIChat(CustomLLM):
            """A LlamaIndex chat LLM over the openai SDK."""

            @property
            def metadata(self) -> LLMMetadata:
                return LLMMetadata(model_name="gpt-4o-mini", is_chat_model=True)

            @llm_chat_callback()
            def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
                wire = [{"role": m.role.value, "content": m.content} for m in messages]
                reply = client.chat.completions.create(model="gpt-4o-mini", messages=wire)
                return ChatResponse(message=ChatMessage(role="assistant", content=reply.choices[0].message.content))

            @llm_completion_callback()
            def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
                return CompletionResponse(
                    text=str(self.chat([ChatMessage(role="user", content=prompt)]).message.content)
                )

            @llm_completion_callback()
            def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
                raise NotImplementedError

        index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCUMENTS], embed_model=HashEmbedding())
        engine = index.as_query_engine(llm=OpenAIChat(), similarity_top_k=2)
        with peekr.span("answer-question"):
            print("answer:", engine.query("Tell me about the Eiffel Tower."))
        client.close()
        peekr.flush(timeout=30)  # waits for the evaluation too
        peekr.shutdown()

    with sqlite3.connect("traces.db") as db:
        rows = db.execute("SELECT span_id, parent_id, name, attributes FROM spans ORDER BY start_time").fetchall()
    children: dict[str | None, list[tuple[str, str, dict[str, Any]]]] = {}
    for span_id, parent_id, name, attributes in rows:
        children.setdefault(parent_id, []).append((span_id, name, json.loads(attributes)))

    def show(parent: str | None, depth: int) -> None:
        for span_id, name, attributes in children.get(parent, []):
            label = f" [{attributes['run_name']}]" if "run_name" in attributes else ""
            print("  " * depth + name + label)
            show(span_id, depth + 1)

    print("\ntrace:")
    show(None, 1)
    llm_attributes = next(json.loads(a) for _, _, name, a in rows if name == "openai.chat.completions")
    print(f"\nhallucination score: {llm_attributes['eval_scores']['hallucination']:.2f}")
    print("  " + llm_attributes["hallucination_eval"]["notes"][0])
    for claim in llm_attributes["hallucination_details"]:
        print(f"  {claim['verdict']:>13}  {claim['claim']}")


if __name__ == "__main__":
    main()
