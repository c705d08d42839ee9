"""A LangChain RAG chain over Qdrant, traced and scored for hallucination with no extra code.

`peekr.instrument()` records the LangChain runs (chain, retriever step, the model call beneath
them) and the Qdrant search as one trace. `peekr.eval.Hallucination()` without a context
extractor checks the answer against the documents retrieved in the same trace. Offline: the fake
provider plays the app's model and the judge; Qdrant runs in memory with a deterministic local
embedding (no model download). Writes traces.db; then try `peekr view traces.db --io`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

import peekr
from peekr.evaluators._fake_judge import FakeJudge  # a deterministic judge for offline demos
from peekr.testing.fake_provider import FakeProvider

DOCUMENTS = [
    "The Eiffel Tower is in Paris.",
    "The Eiffel Tower was completed in 1889.",
    "The Eiffel Tower is 330 metres tall.",
]
APP_PROMPT = "Answer the question from the documents."
# What our (imaginary) model answers: two faithful sentences, one wrong number.
ANSWER = "The Eiffel Tower is in Paris. The Eiffel Tower was completed in 1889. The Eiffel Tower is 500 metres tall."


def embed(text: str) -> list[float]:
    """A deterministic local embedding: the bytes of the text's hash (stands in for a real model)."""
    return [b / 255 for b in hashlib.sha256(text.encode()).digest()[:16]]


def main() -> None:
    judge = FakeJudge()

    def responder(request: dict[str, Any]) -> str:
        system = request["messages"][0]["content"] if request["messages"][0]["role"] == "system" else ""
        return ANSWER if system.startswith(APP_PROMPT) else judge(request)

    with FakeProvider(chat_responder=responder) as fake:
        peekr.instrument(
            storage="sqlite",
            path="traces.db",
            evaluators=[
                # No context_extractor: the documents retrieved in the same trace are the context.
                peekr.eval.Hallucination(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake")
            ],
        )

        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.runnables import RunnableLambda, RunnablePassthrough
        from langchain_openai import ChatOpenAI
        from qdrant_client import QdrantClient, models

        qdrant = QdrantClient(":memory:")
        qdrant.create_collection("docs", vectors_config=models.VectorParams(size=16, distance=models.Distance.COSINE))
        qdrant.upsert(
            "docs",
            points=[models.PointStruct(id=i, vector=embed(t), payload={"text": t}) for i, t in enumerate(DOCUMENTS)],
        )

        def retrieve(question: str) -> str:
            hits = qdrant.query_points("docs", query=embed(question), limit=3).points
            return "\n".join(str((hit.payload or {})["text"]) for hit in hits)

        prompt = ChatPromptTemplate.from_messages([("system", APP_PROMPT + "\n{context}"), ("user", "{question}")])
        llm = ChatOpenAI(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        chain = (
            {"context": RunnableLambda(retrieve), "question": RunnablePassthrough()} | prompt | llm | StrOutputParser()
        )
        print("answer:", chain.invoke("Tell me about the Eiffel Tower."))
        qdrant.close()
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
