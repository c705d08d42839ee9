"""The MCP server: the seven read-only tools over a ``Source``, served on stdio (``peekr mcp``)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from .._version import __version__
from ..store._readers import TraceFileError
from . import _tools
from ._shape import MAX_ITEMS, ToolArgumentError
from ._source import LocalSource, Source

__all__ = ["build_server", "serve_stdio"]

#: Picks the source for one tool call (the local file, or the caller's tenant on the collector).
SourceFor = Callable[[Context[Any, Any]], Source]

_INSTRUCTIONS = """Read-only access to LLM traces recorded by peekr (calls to OpenAI, Anthropic, Bedrock, Gemini...).
Start with recent_traces or error_spans, then get_trace(trace_id) for the waterfall with inputs and outputs.
Content of spans recorded with retention_class="pii" is redacted; long values are cut with a visible marker."""

_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

Limit = Annotated[int, Field(description=f"How many items to return (1-{MAX_ITEMS}).")]
Name = Annotated[str | None, Field(description="Span name prefix or glob, e.g. 'openai.chat' or 'anthropic.*'.")]
Model = Annotated[str | None, Field(description="Model name, exact or glob, e.g. 'gpt-4o*'.")]
Status = Annotated[str | None, Field(description="'ok' or 'error'.")]
Since = Annotated[str | None, Field(description="ISO-8601 UTC start, inclusive, e.g. 2026-12-03T09:00:00Z.")]
Until = Annotated[str | None, Field(description="ISO-8601 UTC end, exclusive.")]
Text = Annotated[str | None, Field(description="Case-insensitive text to find in span names, inputs, outputs, errors.")]


async def _run(call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run a tool; a bad argument or an unreadable file becomes a tool error with a one-line message."""
    try:
        return await call()
    except (ToolArgumentError, TraceFileError) as exc:
        raise ToolError(str(exc)) from None


def build_server(source_for: SourceFor, *, path: str | None = None, name: str = "peekr") -> MCPServer[Any]:
    """An ``MCPServer`` with the peekr tools; ``source_for(ctx)`` gives the spans each call reads."""
    server: MCPServer[Any] = MCPServer(name, instructions=_INSTRUCTIONS, version=__version__, log_level="WARNING")

    @server.tool(annotations=_READ_ONLY)
    async def recent_traces(
        ctx: Context[Any, Any],
        limit: Limit = 10,
        name: Name = None,
        model: Model = None,
        status: Status = None,
        since: Since = None,
    ) -> dict[str, Any]:
        """The newest traces (a trace is one request or job: its spans), with duration, spans, errors, tokens, cost."""
        return await _run(
            lambda: _tools.recent_traces(
                source_for(ctx), _tools.make_query(name=name, model=model, status=status, since=since), limit
            )
        )

    @server.tool(annotations=_READ_ONLY)
    async def get_trace(
        ctx: Context[Any, Any],
        trace_id: Annotated[str, Field(description="A trace id, or a unique prefix of one.")],
        include_io: Annotated[bool, Field(description="Include inputs, outputs and request parameters.")] = True,
        max_chars: Annotated[int, Field(description="Cut each string at this many characters (50-10000).")] = 2000,
    ) -> dict[str, Any]:
        """One trace as a waterfall: every span depth-first with its offset, duration, status, model, tokens,
        cost, eval scores, error and (include_io) its input and output; plus the trace's feedback."""
        return await _run(lambda: _tools.get_trace(source_for(ctx), trace_id, include_io, max_chars))

    @server.tool(annotations=_READ_ONLY)
    async def search_spans(
        ctx: Context[Any, Any],
        text: Text = None,
        name: Name = None,
        model: Model = None,
        status: Status = None,
        user_id: str | None = None,
        session_id: str | None = None,
        feature: str | None = None,
        endpoint: str | None = None,
        since: Since = None,
        until: Until = None,
        limit: Limit = 20,
    ) -> dict[str, Any]:
        """Spans matching every filter given, newest first, each with a short preview of its input and output."""
        return await _run(
            lambda: _tools.search_spans(
                source_for(ctx),
                _tools.make_query(
                    name=name,
                    model=model,
                    status=status,
                    user_id=user_id,
                    session_id=session_id,
                    feature=feature,
                    endpoint=endpoint,
                    since=since,
                    until=until,
                ),  # fmt: skip
                text,
                limit,
            )
        )

    @server.tool(annotations=_READ_ONLY)
    async def error_spans(
        ctx: Context[Any, Any], limit: Limit = 20, name: Name = None, model: Model = None, since: Since = None
    ) -> dict[str, Any]:
        """Failed spans, newest first, with the error type and message (start here for "why did this call fail?")."""
        return await _run(
            lambda: _tools.error_spans(source_for(ctx), _tools.make_query(name=name, model=model, since=since), limit)
        )

    @server.tool(annotations=_READ_ONLY)
    async def worst_scores(
        ctx: Context[Any, Any],
        metric: Annotated[
            str | None, Field(description="Eval score name, e.g. 'hallucination'; default: each span's lowest score.")
        ] = None,
        limit: Limit = 10,
        name: Name = None,
        since: Since = None,
    ) -> dict[str, Any]:
        """Spans with the lowest evaluation scores (0 = worst, 1 = best), lowest first."""
        return await _run(
            lambda: _tools.worst_scores(source_for(ctx), _tools.make_query(name=name, since=since), metric, limit)
        )

    @server.tool(annotations=_READ_ONLY)
    async def cost_summary(
        ctx: Context[Any, Any],
        by: Annotated[str, Field(description=f"Group by: {', '.join(_tools.COST_GROUPS)}.")] = "model",
        since: Since = None,
        until: Until = None,
        limit: Limit = 20,
    ) -> dict[str, Any]:
        """Where the money goes: cost, calls and tokens per group, most expensive first. Calls with no known
        price are counted as unpriced_calls, never as $0."""
        return await _run(
            lambda: _tools.cost_summary(source_for(ctx), _tools.make_query(since=since, until=until), by, limit)
        )

    @server.tool(annotations=_READ_ONLY)
    async def compare_experiment(
        ctx: Context[Any, Any],
        name: Annotated[str, Field(description="The experiment's name, as given to peekr.experiment().")],
    ) -> dict[str, Any]:
        """Compare an experiment's variants: calls, cost, tokens, latency, errors, scores, with significance."""
        return await _run(lambda: _tools.compare_experiment(source_for(ctx), path, name))

    return server


def serve_stdio(path: str | os.PathLike[str]) -> None:
    """Serve the tools over one trace file on stdin/stdout until the client closes the pipe.

    Raises:
        TraceFileError: the file is missing, empty or not a peekr trace file.
    """
    source = LocalSource(path)
    build_server(lambda _ctx: source, path=os.fspath(path)).run("stdio")
