"""A coding agent's view of your traces: `peekr mcp traces.db` driven by the official MCP client SDK.

Records a few calls (one fails) against Peekr's built-in fake provider, then starts `peekr mcp traces.db`
as a subprocess, exactly as Claude Desktop, Claude Code or Cursor would (see docs/mcp.md for their config),
and calls its tools: what failed, and the failing trace as a waterfall. Needs the `mcp` extra.
"""

from __future__ import annotations

import json
import sys

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

import peekr
from peekr.testing.fake_provider import FakeProvider


def record() -> None:
    peekr.instrument(storage="sqlite", path="traces.db")
    from openai import OpenAI

    with FakeProvider() as fake:
        client = OpenAI(base_url=fake.openai_base_url, api_key="sk-fake-key", max_retries=0)
        with peekr.span("answer-question"):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "What is Peekr?"}]
            )
            try:
                client.chat.completions.create(model="gpt-error-400", messages=[{"role": "user", "content": "hi"}])
            except Exception:
                pass
    peekr.shutdown()


async def ask() -> None:
    server = StdioServerParameters(command=sys.executable, args=["-m", "peekr.cli", "mcp", "traces.db"])
    async with Client(server) as client:
        tools = await client.list_tools()
        print("tools:", ", ".join(tool.name for tool in tools.tools))

        result = await client.call_tool("error_spans", {"limit": 5})
        errors = json.loads(result.content[0].text)["spans"]
        for span in errors:
            print(f"error:  {span['name']} {span.get('model')} -> {span['error']['type']}: {span['error']['message']}")

        result = await client.call_tool("get_trace", {"trace_id": errors[0]["trace_id"], "max_chars": 200})
        trace = json.loads(result.content[0].text)
        for row in trace["spans"]:
            attrs = row["attributes"]
            print(f"{'  ' * row['depth']}{row['name']:<28} {row['status']:<6} {attrs.get('model', '')}")


def main() -> None:
    record()
    anyio.run(ask)


if __name__ == "__main__":
    main()
