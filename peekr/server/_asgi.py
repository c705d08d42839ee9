"""Entry point for uvicorn worker processes: the app built from ``PEEKR_SERVER_*`` variables."""

from __future__ import annotations

from fastapi import FastAPI

from ._app import create_app
from ._config import ServerSettings

__all__ = ["app_from_env"]


def app_from_env() -> FastAPI:
    """``uvicorn peekr.server._asgi:app_from_env --factory``."""
    return create_app(ServerSettings.from_env())
