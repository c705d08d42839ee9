"""``peekr mcp traces.db``: serve the trace file to a coding agent over MCP (stdio, read-only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import fail

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``mcp`` command to the ``peekr`` CLI."""

    @app.command("mcp")
    def mcp(
        path: Annotated[Path, typer.Argument(help="traces.db or traces.jsonl written by peekr.")] = Path("traces.db"),
    ) -> None:
        """Serve traces to a coding agent over MCP on stdin/stdout (read-only; see docs/mcp.md)."""
        try:
            from ..mcp import serve_stdio
        except ImportError:
            fail("`peekr mcp` needs the mcp extra: pip install 'peekr-sdk[mcp]'")
        from ..store._readers import TraceFileError

        try:
            serve_stdio(path)
        except TraceFileError as exc:
            fail(str(exc))
