"""An OpenAI Agents SDK run with a function tool and an input guardrail, traced by `peekr.instrument()` alone.

A weather agent checks its input with a guardrail, calls its `get_weather` tool and answers.
Peekr records one trace: the workflow, the agent, the guardrail, the tool call, and every model
call once (the OpenAI integration's `openai.responses` spans, children of the agent that made
them). Offline: the fake provider plays the model (a model name containing `tool` asks for the
first tool, then answers with the tool's result). Writes traces.db; then try
`peekr view traces.db --io`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import peekr
from peekr.testing.fake_provider import FakeProvider


async def run(fake: FakeProvider) -> str:
    from agents import Agent, GuardrailFunctionOutput, Runner, function_tool, input_guardrail, set_trace_processors
    from agents.models.openai_responses import OpenAIResponsesModel

    # The SDK uploads its own traces to OpenAI by default. This demo keeps everything local, so it
    # drops the SDK's processors; peekr's stays attached (it is kept on purpose while instrumented).
    set_trace_processors([])

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny, 21 degrees in {city}"

    @input_guardrail
    def not_empty(context: Any, agent: Any, user_input: Any) -> GuardrailFunctionOutput:
        """Trips (raises InputGuardrailTripwireTriggered) on an empty question."""
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=not str(user_input).strip())

    client = fake.async_openai_client()
    weather = Agent(
        name="Weather",
        instructions="Answer weather questions with the tool.",
        tools=[get_weather],
        input_guardrails=[not_empty],
        model=OpenAIResponsesModel(model="gpt-4o-mini-tool", openai_client=client),
    )
    try:
        result = await Runner.run(weather, "Lisbon")
    finally:
        await client.close()
    return str(result.final_output)


def print_tree(path: str) -> None:
    """The recorded trace as an indented tree (read back from SQLite)."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT span_id, parent_id, name, json_extract(attributes, '$.run_name') FROM spans ORDER BY start_time"
        ).fetchall()
    children: dict[str | None, list[tuple[str, str, str | None]]] = {}
    for span_id, parent_id, name, run_name in rows:
        children.setdefault(parent_id, []).append((span_id, name, run_name))

    def walk(parent: str | None, depth: int) -> None:
        for span_id, name, run_name in children.get(parent, []):
            print("  " * depth + name + (f" [{run_name}]" if run_name else ""))
            walk(span_id, depth + 1)

    walk(None, 0)


def main() -> None:
    with FakeProvider() as fake:
        peekr.instrument(storage="sqlite", path="traces.db")
        answer = asyncio.run(run(fake))
        peekr.shutdown()
    print(f"final output: {answer}")
    print_tree("traces.db")


if __name__ == "__main__":
    main()
