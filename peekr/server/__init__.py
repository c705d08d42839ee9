"""The self-hosted Peekr collector (``peekr server``): needs the ``server`` extra."""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("The Peekr collector needs its extra: pip install 'peekr-sdk[server]'") from exc

from ._app import create_app as create_app
from ._config import ServerSettings as ServerSettings
from ._wire import WIRE_VERSION as WIRE_VERSION

__all__ = ("WIRE_VERSION", "ServerSettings", "create_app")
