"""``peekr fake-provider``: a local stand-in for the OpenAI, Anthropic, Gemini and Bedrock APIs."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["fake_provider", "register"]


def fake_provider(
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    latency: Annotated[float, typer.Option("--latency", min=0.0, help="Seconds to wait before every answer.")] = 0.0,
) -> None:
    """Serve fake OpenAI/Anthropic/Gemini/Bedrock endpoints locally (no API key, no network), for demos and tests."""
    try:
        from peekr.testing.fake_provider import main as fake_main
    except ImportError as exc:
        typer.echo(f"peekr: error: the fake provider is not available in this install ({exc})", err=True)
        raise typer.Exit(1) from None
    code = fake_main(["--port", str(port), "--host", host, "--latency", str(latency)])
    raise typer.Exit(int(code or 0))


def register(app: typer.Typer) -> None:
    """Add the ``fake-provider`` command to ``app``."""
    app.command("fake-provider")(fake_provider)
