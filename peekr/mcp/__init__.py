"""An MCP server so coding agents (Claude Code, Cursor, Claude Desktop...) can read peekr traces.

``peekr mcp traces.db`` serves read-only tools over stdio (``serve_stdio``); ``peekr server`` serves
the same tools at ``/mcp`` over streamable HTTP for a tenant's read key (``peekr.mcp._http``).
Needs the ``mcp`` extra: ``pip install 'peekr-sdk[mcp]'``. See docs/mcp.md.
"""

from __future__ import annotations

try:
    import mcp  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("The peekr MCP server needs its extra: pip install 'peekr-sdk[mcp]'") from exc

from ._server import build_server, serve_stdio

__all__ = ["build_server", "serve_stdio"]
