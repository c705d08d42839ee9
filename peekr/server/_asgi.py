"""Entry point for uvicorn worker processes: the app built from ``PEEKR_SERVER_*`` variables."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from ._app import create_app
from ._config import ServerSettings

__all__ = ["app_from_env"]

#: Allocations minus deallocations between young collections (Python's default is 700).
GC_YOUNG_THRESHOLD = 10_000


def app_from_env() -> FastAPI:
    """``uvicorn peekr.server._asgi:app_from_env --factory``."""
    app = create_app(ServerSettings.from_env())
    tune_gc()
    return app


def tune_gc() -> None:
    """Garbage-collector settings for a collector process (this process only; cycles are still collected).

    One ingest request of 500 spans parses into tens of thousands of short-lived objects: with
    the default threshold each request ran dozens of young collections, and every few requests
    a full one over every object of the process (FastAPI, pydantic, the app), several
    microseconds per span in all. What exists once the app is built is frozen (kept out of
    every later collection), and young collections run every ``GC_YOUNG_THRESHOLD`` allocations.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
