"""The OpenAI Agents SDK with the real library: agents on the fake provider's Responses API over HTTP.

Each test compares the host's result with a run of an identical agent with peekr off, and asserts the
span tree: one trace per run, the provider span a child of the agent span, exactly one span per model
call (the SDK's own response spans are not recorded a second time). Each run gets its own OpenAI
client: ``Runner.run_sync`` starts a new event loop, and an async client cannot move between loops.
The Agents SDK runs on asyncio only (it creates asyncio tasks), so the async tests do too.

``Runner.run_sync`` reuses the thread's default event loop and calls ``loop.shutdown_asyncgens()``
after each run, so the next run's first async generator (httpx2's auth flow) draws asyncio's
"scheduled after loop.shutdown_asyncgens()" ResourceWarning, with or without peekr: ignored here.

The SDK's default processor exports traces to OpenAI; with ``OPENAI_API_KEY`` unset (the fixture
below) it skips the export, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from _fw_spans import recorded, tree
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    RunConfig,
    Runner,
    custom_span,
    function_tool,
    input_guardrail,
    set_trace_processors,
    set_tracing_disabled,
    trace,
)
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from agents.tracing import get_trace_provider

import peekr
from peekr._errors import inject_faults
from peekr._redact import REDACTED
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])
pytestmark = pytest.mark.filterwarnings(
    "ignore:asynchronous generator .* was scheduled after loop.shutdown_asyncgens:ResourceWarning"
)

TOOL_TREE = [
    "agents.workflow [Agent workflow]",
    "  agents.agent [Weather]",
    "    openai.responses",
    "    agents.tool [get_weather]",
    "    openai.responses",
]
HANDOFF_TREE = [
    "agents.workflow [Agent workflow]",
    "  agents.agent [Triage]",
    "    openai.responses",
    "    agents.handoff",
    "  agents.agent [Answerer]",
    "    openai.responses",
]


@pytest.fixture(autouse=True)
def _no_export_to_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own exporter skips its upload without a key: no network in tests."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def client(fake: FakeProvider) -> openai.AsyncOpenAI:
    """An async client of the fake provider; no kept-alive connections to leak between event loops."""
    return fake.async_openai_client(http_client=httpx2.AsyncClient(limits=httpx2.Limits(max_keepalive_connections=0)))


def model(fake: FakeProvider, name: str) -> OpenAIResponsesModel:
    """A Responses API model on the fake provider."""
    return OpenAIResponsesModel(model=name, openai_client=client(fake))


def weather_agent(fake: FakeProvider) -> Agent[Any]:
    """Asks for its tool (model name ``tool``), then answers with the tool's result."""
    return Agent(name="Weather", instructions="Be brief.", tools=[get_weather], model=model(fake, "gpt-4o-tool"))


def triage_agent(fake: FakeProvider) -> Agent[Any]:
    """Hands off to ``Answerer`` (its only tool is the handoff), which answers."""
    answerer = Agent(name="Answerer", instructions="Answer.", model=model(fake, "gpt-4o-mini"))
    return Agent(name="Triage", instructions="Route.", handoffs=[answerer], model=model(fake, "gpt-4o-tool"))


def test_run_sync_agent_with_a_tool_one_trace_agent_tool_tree(server: FakeProvider) -> None:
    expected = Runner.run_sync(weather_agent(server), "Paris").final_output  # peekr off
    server.reset()
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    result = Runner.run_sync(weather_agent(server), "Paris")

    assert result.final_output == expected == "Echo: sunny in Paris"
    spans = recorded(sink)
    assert tree(spans) == TOOL_TREE
    assert len({s.trace_id for s in spans}) == 1
    calls = [s for s in spans if s.name == "openai.responses"]
    assert len(calls) == 2 == len(server.requests)  # one span per model call, none from the SDK's response spans
    assert not [s for s in spans if s.name == "agents.llm"]
    by_name = {s.name: s for s in spans}
    workflow, agent, tool = by_name["agents.workflow"], by_name["agents.agent"], by_name["agents.tool"]
    assert (workflow.attributes["kind"], agent.attributes["kind"], tool.attributes["kind"]) == (
        "workflow",
        "agent",
        "tool",
    )
    assert {s.attributes["framework"] for s in (workflow, agent, tool)} == {"openai_agents"}
    assert workflow.attributes["agents_trace_id"].startswith("trace_")
    assert agent.attributes["tools"] == ["get_weather"] and agent.attributes["output_type"] == "str"
    assert tool.attributes["input"] == {"city": "Paris"} and tool.attributes["output"] == "sunny in Paris"
    assert calls[1].attributes["output"] == expected and calls[0].attributes["tokens_input"] > 0
    # the tool ran between the two model calls, inside the agent's time
    assert calls[0].end_time <= tool.start_time <= tool.end_time <= calls[1].start_time
    assert agent.start_time <= calls[0].start_time and calls[1].end_time <= agent.end_time <= workflow.end_time


@asyncio_only
@pytest.mark.anyio
async def test_async_runner_run_same_tree_and_result(server: FakeProvider) -> None:
    expected = (await Runner.run(weather_agent(server), "Lyon")).final_output
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    assert (await Runner.run(weather_agent(server), "Lyon")).final_output == expected == "Echo: sunny in Lyon"
    assert tree(recorded(sink)) == TOOL_TREE


@asyncio_only
@pytest.mark.anyio
async def test_streamed_run_one_span_per_model_call(server: FakeProvider) -> None:
    async def run() -> tuple[Any, list[str]]:
        result = Runner.run_streamed(weather_agent(server), "Oslo")
        kinds = [event.type async for event in result.stream_events()]
        return result.final_output, kinds  # type: ignore[return-value]

    expected = await run()
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    assert await run() == expected
    spans = recorded(sink)
    assert tree(spans) == TOOL_TREE
    assert all(s.attributes["stream"] is True for s in spans if s.name == "openai.responses")


def test_handoff_between_two_agents(server: FakeProvider) -> None:
    reference = Runner.run_sync(triage_agent(server), "Hello there")
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    result = Runner.run_sync(triage_agent(server), "Hello there")

    assert (result.final_output, result.last_agent.name) == (reference.final_output, "Answerer")
    spans = recorded(sink)
    assert tree(spans) == HANDOFF_TREE
    (handoff,) = (s for s in spans if s.name == "agents.handoff")
    assert handoff.attributes["kind"] == "handoff"
    assert (handoff.attributes["from_agent"], handoff.attributes["to_agent"]) == ("Triage", "Answerer")
    assert [s.attributes["model"] for s in spans if s.name == "openai.responses"] == ["gpt-4o-tool", "gpt-4o-mini"]


@function_tool
def broken_lookup(city: str) -> str:
    """Always fails."""
    raise ValueError(f"no weather for {city}")


@asyncio_only
@pytest.mark.anyio
async def test_chat_completions_model_and_a_failing_tool(server: FakeProvider) -> None:
    """The SDK's generation spans are covered by ``openai.chat.completions``; a tool error marks the tool span."""

    def agent() -> Agent[Any]:
        chat = OpenAIChatCompletionsModel("gpt-4o-tool", client(server))
        return Agent(name="Chat", tools=[broken_lookup], model=chat)

    expected = (await Runner.run(agent(), "Paris")).final_output
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])

    assert (await Runner.run(agent(), "Paris")).final_output == expected
    spans = recorded(sink)
    assert tree(spans) == [
        "agents.workflow [Agent workflow]",
        "  agents.agent [Chat]",
        "    openai.chat.completions",
        "    agents.tool [broken_lookup]",
        "    openai.chat.completions",
    ]
    tool = next(s for s in spans if s.name == "agents.tool")
    assert tool.status == "error" and tool.attributes["error"]["type"] == "agents.SpanError"
    assert tool.attributes["input"] == {"city": "Paris"}


@asyncio_only
@pytest.mark.anyio
async def test_a_failing_model_call_keeps_the_hosts_exception(server: FakeProvider, sink: InMemorySink) -> None:
    agent = Agent(name="Unlucky", model=model(server, "gpt-4o-error-500"))
    with pytest.raises(openai.InternalServerError, match="fake error 500"):
        await Runner.run(agent, "Paris")
    spans = recorded(sink)
    assert tree(spans) == ["agents.workflow [Agent workflow]", "  agents.agent [Unlucky]", "    openai.responses"]
    call = next(s for s in spans if s.name == "openai.responses")
    assert call.status == "error" and call.attributes["error"]["type"] == "openai.InternalServerError"
    assert next(s for s in spans if s.name == "agents.agent").status == "error"


@asyncio_only
@pytest.mark.anyio
async def test_concurrent_runs_each_get_their_own_trace(server: FakeProvider, sink: InMemorySink) -> None:
    """Parents come from the SDK's per-task context: interleaved runs do not adopt each other's calls."""
    server.latency = 0.02
    try:
        results = await asyncio.gather(*(Runner.run(weather_agent(server), city) for city in ("Oslo", "Rome", "Lima")))
    finally:
        server.latency = 0.0
    assert [r.final_output for r in results] == ["Echo: sunny in Oslo", "Echo: sunny in Rome", "Echo: sunny in Lima"]
    spans = recorded(sink)
    assert len({s.trace_id for s in spans}) == 3
    for trace_id in {s.trace_id for s in spans}:
        in_trace = [s for s in spans if s.trace_id == trace_id]
        assert tree(in_trace) == TOOL_TREE
        city = next(s for s in in_trace if s.name == "agents.tool").attributes["input"]["city"]
        assert all(city in str(s.attributes["input"]) for s in in_trace if s.name == "openai.responses")


@input_guardrail
def no_greetings(context: Any, agent: Any, user_input: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info={"greeting": True}, tripwire_triggered="Hello" in str(user_input))


def test_guardrail_tripping_keeps_the_hosts_exception(server: FakeProvider, sink: InMemorySink) -> None:
    agent = Agent(name="Guarded", instructions="x", input_guardrails=[no_greetings], model=model(server, "gpt-4o"))

    with pytest.raises(InputGuardrailTripwireTriggered) as raised:
        Runner.run_sync(agent, "Hello there")

    assert raised.value.guardrail_result.output.output_info == {"greeting": True}
    spans = recorded(sink)
    assert tree(spans) == [
        "agents.workflow [Agent workflow]",
        "  agents.agent [Guarded]",
        "    agents.guardrail [no_greetings]",
    ]
    guardrail = next(s for s in spans if s.name == "agents.guardrail")
    agent_span = next(s for s in spans if s.name == "agents.agent")
    assert guardrail.attributes["kind"] == "guardrail" and guardrail.attributes["triggered"] is True
    assert agent_span.status == "error"
    assert agent_span.attributes["error"]["message"] == "Guardrail tripwire triggered"
    assert agent_span.attributes["error_data"] == {"guardrail": "no_greetings"}


def test_a_passing_guardrail_is_recorded_untriggered(server: FakeProvider, sink: InMemorySink) -> None:
    agent = Agent(name="Guarded", instructions="x", input_guardrails=[no_greetings], model=model(server, "gpt-4o"))
    assert Runner.run_sync(agent, "Good morning").final_output == "Echo: Good morning"
    spans = recorded(sink)
    guardrail = next(s for s in spans if s.name == "agents.guardrail")
    assert guardrail.attributes["triggered"] is False and guardrail.status == "ok"
    assert all(s.status == "ok" for s in spans)


def test_runs_grouped_in_an_sdk_trace_and_a_peekr_span_share_one_trace(
    server: FakeProvider, sink: InMemorySink
) -> None:
    with peekr.span("handle-request"), trace("Two questions", group_id="conv-1"):
        Runner.run_sync(weather_agent(server), "Paris")
        Runner.run_sync(weather_agent(server), "Rome")
    spans = recorded(sink)
    assert tree(spans) == ["handle-request", "  agents.workflow [Two questions]"] + [
        "  " + line for line in TOOL_TREE[1:] * 2
    ]
    workflow = next(s for s in spans if s.name == "agents.workflow")
    assert workflow.attributes["group_id"] == "conv-1"


def test_pii_session_redacts_tool_arguments_and_keeps_the_names(server: FakeProvider, sink: InMemorySink) -> None:
    with peekr.session(retention_class="pii"):
        Runner.run_sync(weather_agent(server), "4111 1111 1111 1111")
        Runner.run_sync(triage_agent(server), "4111 1111 1111 1111")
    spans = recorded(sink)
    assert all("4111" not in str(s.attributes) for s in spans)
    tool = next(s for s in spans if s.name == "agents.tool")
    assert tool.attributes["input"] == REDACTED and tool.attributes["output"] == REDACTED
    assert (tool.attributes["kind"], tool.attributes["run_name"]) == ("tool", "get_weather")
    handoff = next(s for s in spans if s.name == "agents.handoff")
    assert (handoff.attributes["from_agent"], handoff.attributes["to_agent"]) == ("Triage", "Answerer")
    workflow = next(s for s in spans if s.name == "agents.workflow")
    assert workflow.attributes["agents_trace_id"].startswith("trace_")


def test_capture_content_off_records_no_tool_arguments(server: FakeProvider) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], capture_content=False)
    Runner.run_sync(weather_agent(server), "Paris")
    spans = recorded(sink)
    assert tree(spans) == TOOL_TREE
    tool = next(s for s in spans if s.name == "agents.tool")
    assert "input" not in tool.attributes and "output" not in tool.attributes
    assert all("Paris" not in str(s.attributes) for s in spans)


@function_tool
def lookup_with_a_step(city: str) -> str:
    """A tool that records a step of its own with the SDK's ``custom_span``."""
    with custom_span("geocode", {"city": city}):
        return f"sunny in {city}"


def test_custom_spans_and_trace_metadata(server: FakeProvider, sink: InMemorySink) -> None:
    agent = Agent(name="Weather", tools=[lookup_with_a_step], model=model(server, "gpt-4o-tool"))
    with trace("Metadata", metadata={"ticket": "T-1"}):
        assert Runner.run_sync(agent, "Paris").final_output == "Echo: sunny in Paris"
    spans = recorded(sink)
    assert tree(spans) == [
        "agents.workflow [Metadata]",
        "  agents.agent [Weather]",
        "    openai.responses",
        "    agents.tool [lookup_with_a_step]",
        "      agents.custom [geocode]",
        "    openai.responses",
    ]
    custom = next(s for s in spans if s.name == "agents.custom")
    assert custom.attributes["kind"] == "custom" and custom.attributes["data"] == {"city": "Paris"}
    assert next(s for s in spans if s.name == "agents.workflow").attributes["metadata"] == {"ticket": "T-1"}


def test_a_run_inside_a_langchain_run_nests_under_it(server: FakeProvider, sink: InMemorySink) -> None:
    from langchain_core.runnables import RunnableLambda

    step = RunnableLambda(lambda city: Runner.run_sync(weather_agent(server), city).final_output, name="ask_agent")
    assert step.invoke("Paris") == "Echo: sunny in Paris"
    assert tree(recorded(sink)) == ["langchain.chain [ask_agent]", *("  " + line for line in TOOL_TREE)]


def test_tracing_disabled_records_the_model_calls_only(server: FakeProvider, sink: InMemorySink) -> None:
    """With the SDK's tracing off no processor is called: the model calls are recorded, unparented."""
    result = Runner.run_sync(weather_agent(server), "Paris", run_config=RunConfig(tracing_disabled=True))
    assert result.final_output == "Echo: sunny in Paris"
    set_tracing_disabled(True)
    try:
        assert Runner.run_sync(weather_agent(server), "Rome").final_output == "Echo: sunny in Rome"
    finally:
        set_tracing_disabled(False)
    spans = recorded(sink)
    assert [s.name for s in spans] == ["openai.responses"] * 4
    assert all(s.parent_id is None for s in spans)


def test_a_model_peekr_does_not_patch_is_recorded_from_the_sdks_span(server: FakeProvider) -> None:
    """With the OpenAI integration off, the SDK's response spans are the only record: ``agents.llm``."""
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["openai_agents"])
    assert Runner.run_sync(weather_agent(server), "Paris").final_output == "Echo: sunny in Paris"
    spans = recorded(sink)
    assert tree(spans) == [line.replace("openai.responses", "agents.llm") for line in TOOL_TREE]
    first, second = (s for s in spans if s.name == "agents.llm")
    assert first.attributes["kind"] == "llm" and first.attributes["model"] == "gpt-4o-tool"
    assert first.attributes["tokens_input"] > 0 and first.attributes["tokens_total"] > first.attributes["tokens_input"]
    assert second.attributes["output"][0]["content"][0]["text"] == "Echo: sunny in Paris"


def test_set_trace_processors_keeps_peekr_attached(server: FakeProvider, sink: InMemorySink) -> None:
    """Replacing the SDK's processors (e.g. to stop the export to OpenAI) does not detach peekr."""
    provider: Any = get_trace_provider()
    before = provider._multi_processor._processors
    set_trace_processors([])
    try:
        Runner.run_sync(weather_agent(server), "Paris")
    finally:
        set_trace_processors(list(before))
    assert tree(recorded(sink)) == TOOL_TREE


def test_uninstrument_detaches_and_reinstrument_records_once(server: FakeProvider, sink: InMemorySink) -> None:
    Runner.run_sync(weather_agent(server), "Paris")
    peekr.uninstrument()
    assert Runner.run_sync(weather_agent(server), "Rome").final_output == "Echo: sunny in Rome"
    assert tree(recorded(sink)) == TOOL_TREE  # the second run recorded nothing
    peekr.shutdown()

    again = InMemorySink()
    peekr.instrument(storage="none", sinks=[again])
    Runner.run_sync(weather_agent(server), "Oslo")
    assert tree(recorded(again)) == TOOL_TREE  # the processor was not added a second time


@pytest.mark.swallows_internal_errors
def test_never_breaks_the_host_when_every_peekr_step_fails(server: FakeProvider, sink: InMemorySink) -> None:
    guarded = Agent(name="Guarded", instructions="x", input_guardrails=[no_greetings], model=model(server, "gpt-4o"))
    inject_faults(True)
    try:
        assert Runner.run_sync(weather_agent(server), "Paris").final_output == "Echo: sunny in Paris"
        assert Runner.run_sync(triage_agent(server), "Hi").last_agent.name == "Answerer"
        with pytest.raises(InputGuardrailTripwireTriggered):
            Runner.run_sync(guarded, "Hello there")
    finally:
        inject_faults(False)


def test_open_spans_are_bounded_and_the_overflow_is_counted(
    server: FakeProvider, sink: InMemorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peekr.integrations.openai_agents import _processor

    monkeypatch.setattr(_processor, "MAX_OPEN_SPANS", 2)
    assert Runner.run_sync(weather_agent(server), "Paris").final_output == "Echo: sunny in Paris"
    assert peekr.stats().dropped[("integrations.openai_agents", "open_spans_limit")] >= 1
    spans = recorded(sink)
    assert [s.name for s in spans].count("openai.responses") == 2  # the model calls are still recorded


SCRIPT = """
import json, os, sys
os.environ.pop("OPENAI_API_KEY", None)
import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

sink = InMemorySink()
peekr.instrument(storage="none", sinks=[sink])
assert "agents" not in sys.modules

from agents import Agent, Runner
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel

with FakeProvider() as fake:
    client = fake.async_openai_client()
    agent = Agent(name="A", model=OpenAIResponsesModel(model="gpt-4o", openai_client=client))
    Runner.run_sync(agent, "Hi")
peekr.flush()
print(json.dumps(sorted(s.name for s in sink.spans)))
peekr.shutdown()
"""


def test_instrument_before_the_agents_sdk_is_imported() -> None:
    # Not measured by coverage: under coverage's subprocess start-up, Runner.run_sync of a fresh
    # interpreter fails intermittently inside anyio's connect_tcp (CancelledError, then asyncio
    # "InvalidStateError" in TaskGroup.task_done) with or without peekr.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["agents.agent", "agents.workflow", "openai.responses"]


@pytest.fixture(autouse=True)
def _restore_processors() -> Iterator[None]:
    """A test that replaces the SDK's processor list must not leak that into the next one."""
    provider: Any = get_trace_provider()
    before = provider._multi_processor._processors
    yield
    provider._multi_processor._processors = before


@pytest.fixture(autouse=True)
def _close_run_sync_loop() -> Iterator[None]:
    """``Runner.run_sync`` leaves the thread's default event loop open on purpose; close it after the test."""
    yield
    policy = asyncio.get_event_loop_policy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = policy.get_event_loop()
        except RuntimeError:
            return
    if not loop.is_running() and not loop.is_closed():
        loop.close()
    policy.set_event_loop(None)
