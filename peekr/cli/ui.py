"""``peekr ui traces.db``: open the web UI on a local trace file (127.0.0.1 only, no log-in)."""

from __future__ import annotations

import socket
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``ui`` command to the ``peekr`` CLI."""

    @app.command("ui")
    def ui(
        path: Annotated[Path, typer.Argument(help="traces.db or traces.jsonl written by peekr.")] = Path("traces.db"),
        port: int = typer.Option(0, "--port", help="TCP port on 127.0.0.1 (default: a free one)."),
        no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser tab."),
    ) -> None:
        """Browse a local trace file in the web UI: traces, waterfalls, trends, quality; live."""
        try:
            import fastapi  # noqa: F401
            import uvicorn
        except ImportError:
            typer.echo("Error: the web UI needs the server extra: pip install 'peekr-sdk[server]'", err=True)
            raise typer.Exit(code=1) from None
        from ..store._readers import TraceFileError, open_traces
        from ..ui._local_app import create_local_app

        try:
            open_traces(path).close()
        except TraceFileError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(code=1) from None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without it each small answer waits ~40 ms for a delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            typer.echo(f"Error: cannot listen on 127.0.0.1:{port} ({exc.strerror})", err=True)
            raise typer.Exit(code=1) from None
        sock.listen(128)  # connections made right after the address is printed wait instead of failing
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        typer.echo(f"Peekr UI for {path} at {url}  (Ctrl+C to stop)")
        if not no_browser:
            threading.Timer(0.5, webbrowser.open, (url,)).start()
        config = uvicorn.Config(create_local_app(path), log_level="warning", access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
