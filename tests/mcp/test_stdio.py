"""``peekr mcp traces.db|.jsonl`` driven by the official ``mcp`` client SDK over stdio (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from _mcp_sample import HUGE, SECRET, sid, tid, write
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from peekr.mcp._shape import MAX_ANSWER_CHARS

TOOLS = {"recent_traces", "get_trace", "search_spans", "error_spans", "worst_scores", "cost_summary",
         "compare_experiment"}  # fmt: skip


@pytest.fixture(scope="module", params=["db", "jsonl"])
def trace_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(f"mcp-{request.param}")
    return write("sqlite" if request.param == "db" else "jsonl", folder / f"traces.{request.param}")


@asynccontextmanager
async def stdio(path: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "peekr.cli", "mcp", str(path)])
    async with Client(params, read_timeout_seconds=30) as client:
        yield client


Call = Callable[..., Any]


async def _call(client: Client, tool: str, **arguments: Any) -> tuple[bool, str, Any]:
    result = await client.call_tool(tool, arguments)
    text = "".join(getattr(part, "text", "") for part in result.content)
    return bool(result.is_error), text, (None if result.is_error else json.loads(text))


def test_every_tool_over_stdio(trace_file: Path) -> None:
    async def main() -> None:
        async with stdio(trace_file) as client:
            listed = await client.list_tools()
            assert {tool.name for tool in listed.tools} == TOOLS
            assert all(tool.annotations and tool.annotations.read_only_hint for tool in listed.tools)

            err, _, recent = await _call(client, "recent_traces", limit=10)
            assert not err
            ids = [t["trace_id"] for t in recent["traces"]]
            assert ids == [tid("huge"), tid("pii"), tid("fail"), tid("agent")]  # newest first
            agent = recent["traces"][-1]
            assert agent["root"] == "handle_chat" and agent["spans"] == 3 and agent["cost_usd"] == pytest.approx(2e-4)
            _, _, only_errors = await _call(client, "recent_traces", status="error")
            assert [t["trace_id"] for t in only_errors["traces"]] == [tid("fail")]

            err, text, trace = await _call(client, "get_trace", trace_id=tid("agent")[:10])
            assert not err and trace["trace_id"] == tid("agent")
            rows = [(r["depth"], r["name"]) for r in trace["spans"]]
            assert rows == [(0, "handle_chat"), (1, "openai.chat.completions"), (1, "get_weather")]
            llm = trace["spans"][1]["attributes"]
            assert llm["output"]["content"] == "Sunny in Paris, 21C"
            assert llm["eval_scores"] == {"hallucination": 0.25}
            assert llm["request"]["api_key"] == "[scrubbed]" and "sk-live" not in text
            assert trace["feedback"][0]["note"] == "wrong city"
            _, _, no_io = await _call(client, "get_trace", trace_id=tid("agent"), include_io=False)
            assert "output" not in no_io["spans"][1]["attributes"]

            _, _, found = await _call(client, "search_spans", text="paris")
            assert [s["span_id"] for s in found["spans"]] == [sid("llm1")]
            assert "Paris" in found["spans"][0]["output"]
            _, _, by_feature = await _call(client, "search_spans", feature="essay")
            assert [s["span_id"] for s in by_feature["spans"]] == [sid("huge")]

            _, _, errors = await _call(client, "error_spans")
            assert [s["span_id"] for s in errors["spans"]] == [sid("err")]
            assert errors["spans"][0]["error"]["type"] == "anthropic.RateLimitError"

            _, _, worst = await _call(client, "worst_scores", metric="hallucination")
            assert [(s["span_id"], s["score"]) for s in worst["spans"]] == [(sid("llm1"), 0.25), (sid("huge"), 0.9)]

            _, _, cost = await _call(client, "cost_summary", by="model")
            by_model = {row["group"]: row for row in cost["rows"]}
            assert by_model["gpt-4o"]["cost_usd"] == pytest.approx(3e-4) and by_model["gpt-4o"]["calls"] == 2
            assert by_model["my-finetune-x"]["unpriced_calls"] == 1 and by_model["my-finetune-x"]["cost_usd"] == 0
            assert cost["unpriced_calls"] == 1  # the fine-tuned model has no price: counted apart, not as $0
            assert cost["total_cost_usd"] == pytest.approx(3e-4)

            err, text, compared = await _call(client, "compare_experiment", name="prompt-v2")
            assert not err and compared["available"] is True, text
            comparison = compared["comparison"]
            assert comparison["experiment"] == "prompt-v2" and comparison["control"] == "A"
            assert [v["variant"] for v in comparison["variants"]] == ["A", "B"]
            assert comparison["verdict"] and comparison["warnings"]  # one call each: too few to conclude
            err, text, _ = await _call(client, "compare_experiment", name="nope")
            assert err and "no LLM calls recorded for experiment 'nope' (experiments here: prompt-v2)" in text

    anyio.run(main)


def test_pii_content_never_leaves_the_server(trace_file: Path) -> None:
    """A pii span stored unredacted (recorded with redact_pii=False) is redacted in every answer."""

    async def main() -> None:
        async with stdio(trace_file) as client:
            texts = []
            for tool, args in [
                ("get_trace", {"trace_id": tid("pii")}),
                ("search_spans", {"limit": 100}),
                ("recent_traces", {}),
                ("worst_scores", {}),
            ]:
                err, text, _ = await _call(client, tool, **args)  # type: ignore[arg-type]
                assert not err
                texts.append(text)
            assert not any("4111" in text or "Jane" in text for text in texts)
            _, _, trace = await _call(client, "get_trace", trace_id=tid("pii"))
            attrs = trace["spans"][0]["attributes"]
            assert attrs["input"] == "[redacted: retention_class=pii]" and attrs["model"] == "gpt-4o"
            # Searching for the secret finds nothing: a hit would reveal what the span held.
            _, _, found = await _call(client, "search_spans", text=SECRET[:9])
            assert found["matched"] == 0

    anyio.run(main)


def test_answers_are_bounded(trace_file: Path) -> None:
    async def main() -> None:
        async with stdio(trace_file) as client:
            _, text, trace = await _call(client, "get_trace", trace_id=tid("huge"), max_chars=10_000)
            assert len(text) <= MAX_ANSWER_CHARS
            content = trace["spans"][0]["attributes"]["output"]["content"]
            assert content.startswith(HUGE[:1000]) and "truncated" in content and len(content) < 10_100
            _, text, found = await _call(client, "search_spans", text="lorem", limit=100)
            assert len(text) <= MAX_ANSWER_CHARS and len(found["spans"][0]["output"]) < 400

    anyio.run(main)


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("recent_traces", {"limit": 0}, "limit must be an integer from 1 to 100"),
        ("search_spans", {"limit": 101}, "limit must be an integer from 1 to 100"),
        ("search_spans", {"status": "broken"}, "status must be 'ok' or 'error'"),
        ("error_spans", {"since": "yesterday"}, "since='yesterday' is not an ISO-8601 time"),
        ("search_spans", {"since": "2026-02-01", "until": "2026-01-01"}, "must be before"),
        ("cost_summary", {"by": "colour"}, "by must be one of model, feature, endpoint, user, tenant, day"),
        ("get_trace", {"trace_id": "not-hex"}, "must be hexadecimal"),
        ("get_trace", {"trace_id": "abcdef0123"}, "no trace 'abcdef0123'"),
        ("get_trace", {"trace_id": tid("agent"), "max_chars": 5}, "max_chars must be an integer from 50"),
        ("worst_scores", {"metric": "a b"}, "metric must be an eval score name"),
        ("get_trace", {}, "trace_id"),
        ("recent_traces", {"limit": "ten"}, "limit"),
    ],
)
def test_bad_arguments_are_clear_tool_errors(
    trace_file: Path, tool: str, arguments: dict[str, Any], message: str
) -> None:
    async def main() -> None:
        async with stdio(trace_file) as client:
            err, text, _ = await _call(client, tool, **arguments)
            assert err and message in text
            # The server is still there for the next call.
            assert not (await _call(client, "recent_traces"))[0]

    anyio.run(main)


def test_unreadable_file_fails_at_start_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not sqlite at all")
    for path, message in [(missing, "no such file"), (garbage, "not a SQLite database")]:
        proc = subprocess.run([sys.executable, "-m", "peekr.cli", "mcp", str(path)], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
        assert proc.returncode == 1 and message in proc.stderr and proc.stdout == ""
