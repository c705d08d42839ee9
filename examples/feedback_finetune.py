"""Human feedback and fine-tuning export: rate traces good or bad, export the good ones as training data.

Runs offline. Writes traces.db (spans + a feedback table) and training.jsonl (OpenAI chat
fine-tuning format: one {"messages": [...]} line per LLM chat call of each trace rated good).
"""

from __future__ import annotations

import json

import peekr
from peekr.testing.fake_provider import FakeProvider

QUESTIONS = ["How do I reset my password?", "What are your opening hours?", "Tell me a secret"]


def main() -> None:
    peekr.instrument(storage="sqlite", path="traces.db")

    from openai import OpenAI

    trace_ids = []
    with FakeProvider() as fake:
        client = OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        for question in QUESTIONS:
            # One trace per question: the span's trace_id is what feedback refers to.
            with peekr.span("support-answer", question=question) as span:
                client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[
                        {"role": "system", "content": "You are a helpful support agent."},
                        {"role": "user", "content": question},
                    ],
                )
            trace_ids.append(span.trace_id)
        client.close()

    # Your users (or reviewers) rate the answers, e.g. from a thumbs-up button in your app.
    peekr.feedback(trace_ids[0], rating="good", note="clear steps")
    peekr.feedback(trace_ids[1], rating="good")
    peekr.feedback(trace_ids[2], rating="bad", note="should have refused", score=0.1)
    peekr.shutdown()

    # Export the calls of every trace rated good (the latest rating counts).
    summary = peekr.export_feedback(db_path="traces.db", filter="good", output="training.jsonl", format="openai-ft")
    print(f"wrote {summary.written} examples to training.jsonl; skipped: {summary.skipped or 'none'}")
    with open("training.jsonl", encoding="utf-8") as f:
        first = json.loads(f.readline())
    print("first example:", json.dumps(first)[:200], "...")
    # The same from the shell: peekr export-feedback traces.db --filter good -o training.jsonl


if __name__ == "__main__":
    main()
