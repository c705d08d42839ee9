"""Manual spans around your own steps — retrieval, tools, an agent loop — with the LLM calls inside as children.

`@peekr.trace` records a function (sync, async, generator); `with peekr.span(name, **attributes)`
records a block. Runs offline; writes traces.db and prints the trace as a tree.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from openai import OpenAI

import peekr
from peekr.testing.fake_provider import FakeProvider

DOCS = {
    "paris": "Paris is the capital of France. It has 2.1 million inhabitants.",
    "weather": "Use the get_weather tool for current conditions.",
}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


@peekr.trace(name="retrieve", index="demo-docs")  # every call becomes a span named "retrieve"
def retrieve(query: str) -> list[str]:
    return [text for key, text in DOCS.items() if key in query.lower()]


def get_weather(city: str) -> dict[str, object]:
    # A tool your code runs: record it as a span with its arguments and result.
    with peekr.span("tool.get_weather", city=city) as span:
        result = {"city": city, "temp_c": 18, "sky": "cloudy"}
        span.set_attribute("result", result)
        return result


def answer(client: OpenAI, question: str) -> str:
    with peekr.span("answer", question=question) as root:  # the root of this trace
        docs = retrieve(question)
        root.set_attribute("documents", len(docs))
        messages: list[Any] = [
            {"role": "system", "content": "Context:\n" + "\n".join(docs)},
            {"role": "user", "content": question},
        ]
        # The fake provider answers a model named "...tool..." with a tool call, then with text
        # once the tool result is in the conversation: a one-round agent loop.
        for _ in range(3):
            reply = client.chat.completions.create(model="gpt-4o-mini-tool", messages=messages, tools=TOOLS)
            message = reply.choices[0].message
            if not message.tool_calls:
                return str(message.content)
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                if call.type != "function":
                    continue
                result = get_weather(**json.loads(call.function.arguments))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
        return "gave up"


def print_tree(db_path: str) -> None:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT span_id, parent_id, name, duration_ms FROM spans ORDER BY start_time").fetchall()
    children: dict[str | None, list[tuple[str, str, float]]] = {}
    for span_id, parent_id, name, duration in rows:
        children.setdefault(parent_id, []).append((span_id, name, duration))

    def show(parent: str | None, depth: int) -> None:
        for span_id, name, duration in children.get(parent, []):
            print(f"{'  ' * depth}{name}  ({duration:.1f} ms)")
            show(span_id, depth + 1)

    show(None, 0)


def main() -> None:
    peekr.instrument(storage="sqlite", path="traces.db")

    with FakeProvider() as fake:
        client = OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        print("answer:", answer(client, "What's the weather in Paris?"))
        client.close()

    peekr.shutdown()
    print_tree("traces.db")


if __name__ == "__main__":
    main()
