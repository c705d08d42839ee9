"""``peekr ui``: the collector app with a read-only local backend over the user's trace file."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ..server._app import create_app
from ..server._config import ServerSettings
from ._local import LocalStore

__all__ = ["create_local_app"]


def create_local_app(path: str | Path) -> FastAPI:
    """The same app ``peekr server`` serves, over one local ``traces.db`` / ``traces.jsonl``, no log-in.

    Only ever serve it on 127.0.0.1: it asks no key.
    """
    store = LocalStore(path)
    app = create_app(ServerSettings(db=str(path), purge_interval_s=0, rate_limit=0), store=store)
    app.state.peekr.open_access = True
    return app
