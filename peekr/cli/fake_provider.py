"""``peekr fake-provider``: a local stand-in for the OpenAI, Anthropic, Gemini and Bedrock APIs."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import typer

__all__ = ["register"]


def fake_provider(
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port to listen on (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
) -> None:
    """Serve fake LLM provider endpoints locally, for demos and tests (no API key, no network)."""
    try:
        from peekr.testing.fake_provider import main as fake_main
    except ImportError as exc:
        typer.echo(f"peekr: error: the fake provider is not available in this install ({exc})", err=True)
        raise typer.Exit(1) from None
    _call_main(fake_main, port=port, host=host)


def _call_main(fake_main: Callable[..., object], *, port: int, host: str) -> None:
    # peekr.testing.fake_provider.main is owned by the testing package; pass only what it accepts.
    params = inspect.signature(fake_main).parameters
    if "port" in params:
        kwargs: dict[str, object] = {"port": port}
        if "host" in params:
            kwargs["host"] = host
        fake_main(**kwargs)
    elif params:
        fake_main(["--port", str(port), "--host", host])
    else:
        fake_main()


def register(app: typer.Typer) -> None:
    """Add the ``fake-provider`` command to ``app``."""
    app.command("fake-provider")(fake_provider)
