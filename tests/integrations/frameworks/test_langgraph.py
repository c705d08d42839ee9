"""A two-node LangGraph graph with a tool: an agent node (ChatOpenAI with a bound tool, on the fake
provider, which asks for the tool once, then answers) and LangGraph's prebuilt ToolNode."""

from __future__ import annotations

from typing import Any

import pytest
from _fw_spans import recorded, tree
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

GRAPH_TREE = [
    "langchain.chain [LangGraph]",
    "  langgraph.node [agent]",
    "    langchain.chain [agent]",  # the RunnableLambda given as the node has a run of its own
    "      openai.chat.completions",
    "    langchain.chain [tools_condition]",
    "  langgraph.node [tools]",
    "    langchain.tool [get_weather]",
    "  langgraph.node [agent]",
    "    langchain.chain [agent]",
    "      openai.chat.completions",
    "    langchain.chain [tools_condition]",
]


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def make_graph(fake: FakeProvider) -> Any:
    # "-tool": the fake provider calls the first tool offered, then answers from the tool result.
    llm = ChatOpenAI(model="gpt-4o-mini-tool", base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)  # type: ignore[arg-type]
    bound = llm.bind_tools([get_weather])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    async def aagent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    from langchain_core.runnables import RunnableLambda

    graph = StateGraph(MessagesState)
    graph.add_node("agent", RunnableLambda(agent, afunc=aagent))
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


def contents(result: dict[str, Any]) -> list[Any]:
    return [(m.type, m.content, getattr(m, "tool_calls", None)) for m in result["messages"]]


def check(spans: list[Any]) -> None:
    assert tree(spans) == GRAPH_TREE
    assert len({s.trace_id for s in spans}) == 1
    assert [s.name for s in spans].count("openai.chat.completions") == 2  # one span per model call
    nodes = [s for s in spans if s.name == "langgraph.node"]
    assert [(n.attributes["kind"], n.attributes["framework"]) for n in nodes] == [("graph_node", "langgraph")] * 3
    assert [n.attributes["langgraph_step"] for n in sorted(nodes, key=lambda s: s.start_time)] == [1, 2, 3]
    tool_span = next(s for s in spans if s.name == "langchain.tool")
    assert tool_span.attributes["input"] == {"city": "weather in Paris?"}
    assert tool_span.attributes["output"] == "Sunny in weather in Paris?"


def test_graph_invoke(server: FakeProvider) -> None:
    expected = contents(make_graph(server).invoke({"messages": [("user", "weather in Paris?")]}))
    graph = make_graph(server)
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    result = contents(graph.invoke({"messages": [("user", "weather in Paris?")]}))
    # message ids differ per run; everything the caller reads is the same
    assert result == expected and result[-1][1] == "Echo: Sunny in weather in Paris?"
    check(recorded(sink))


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # LangChain's async callbacks need asyncio
@pytest.mark.anyio
async def test_graph_ainvoke(server: FakeProvider) -> None:
    expected = contents(await make_graph(server).ainvoke({"messages": [("user", "weather in Paris?")]}))
    graph = make_graph(server)
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    assert contents(await graph.ainvoke({"messages": [("user", "weather in Paris?")]})) == expected
    check(recorded(sink))


def test_graph_stream(server: FakeProvider, sink: InMemorySink) -> None:
    updates = list(make_graph(server).stream({"messages": [("user", "weather in Paris?")]}, stream_mode="updates"))
    assert [list(u) for u in updates] == [["agent"], ["tools"], ["agent"]]
    check(recorded(sink))
