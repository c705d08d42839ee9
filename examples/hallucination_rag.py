"""Hallucination evaluation of a RAG answer: which sentence of the answer its documents do not support.

The evaluator runs off your request path (its own thread), asks a judge model to split the answer
into claims and check each against the context, and stores the score and per-claim verdicts on
the span. Offline here: the fake provider answers both the app's call and the judge's calls
(`FakeJudge` is Peekr's deterministic stand-in for a judge model). Writes traces.db.
"""

from __future__ import annotations

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
# What our (imaginary) model answers: two faithful sentences, one made-up number, one unsupported fact.
ANSWER = (
    "The Eiffel Tower is in Paris. The Eiffel Tower was completed in 1889. "
    "The Eiffel Tower is 500 metres tall. It has a secret apartment at the top."
)


def main() -> None:
    judge = FakeJudge()

    def responder(request: dict[str, Any]) -> str:
        system = request["messages"][0]["content"] if request["messages"][0]["role"] == "system" else ""
        return ANSWER if system.startswith(APP_PROMPT) else judge(request)

    from openai import OpenAI

    with FakeProvider(chat_responder=responder) as fake:
        peekr.instrument(
            storage="sqlite",
            path="traces.db",
            evaluators=[
                peekr.eval.Hallucination(
                    # The context to check against: the retrieved documents we put on the span below.
                    context_extractor=lambda span: span.attributes.get("rag_documents"),
                    model="gpt-4o-mini",
                    base_url=fake.openai_base_url,  # your judge endpoint; the OpenAI API by default
                    api_key="sk-fake",
                    detailed=True,
                )
            ],
        )
        client = OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        # session(attributes=...) puts the documents on every span in the block, LLM spans included.
        with peekr.session(feature="rag", attributes={"rag_documents": DOCUMENTS}):
            reply = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[
                    {"role": "system", "content": APP_PROMPT + "\n" + "\n".join(DOCUMENTS)},
                    {"role": "user", "content": "Tell me about the Eiffel Tower."},
                ],
            )
        print("answer:", reply.choices[0].message.content)
        client.close()
        peekr.flush(timeout=30)  # waits for the evaluation too
        peekr.shutdown()

    with sqlite3.connect("traces.db") as db:
        score, details = db.execute(
            "SELECT json_extract(attributes, '$.eval_scores.hallucination'), "
            "json_extract(attributes, '$.hallucination_details') FROM spans WHERE name LIKE 'openai.chat%'"
        ).fetchone()
    print(f"\nhallucination score: {score:.2f} (share of claims the documents support)")
    for claim in json.loads(details):
        print(f"  {claim['verdict']:>13}  {claim['claim']}")


if __name__ == "__main__":
    main()
