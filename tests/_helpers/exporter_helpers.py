"""Exporter test helpers: a real collector (uvicorn, SQLite) behind a fault injector."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import anyio

from peekr.server import ServerSettings, create_app
from peekr.server._testing import RunningCollector, run_collector


@dataclass
class Faults:
    """ASGI middleware in front of the real collector: answers planned errors, delays, records requests.

    ``plan`` holds one entry per upcoming ingest request: an int status (with ``retry_after``
    headers from ``headers``), ``"slow"`` (sleep ``delay`` then serve), or None (serve).
    """

    app: Any
    plan: deque[Any] = field(default_factory=deque)
    headers: dict[int, dict[str, str]] = field(default_factory=dict)
    delay: float = 0.0
    fail_until: float = 0.0  # answer 503 to every ingest before this monotonic time
    requests: int = 0
    encodings: list[str] = field(default_factory=list)
    client_ports: set[int] = field(default_factory=set)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/ingest":
            self.requests += 1
            headers = dict(scope["headers"])
            self.encodings.append(headers.get(b"content-encoding", b"identity").decode())
            if scope.get("client"):
                self.client_ports.add(scope["client"][1])
            action = self.plan.popleft() if self.plan else None
            if action is None and anyio.current_time() < self.fail_until:
                action = 503
            if isinstance(action, int):
                extra = [(k.lower().encode(), v.encode()) for k, v in self.headers.get(action, {}).items()]
                await send({"type": "http.response.start", "status": action,
                            "headers": [(b"content-type", b"application/json"), *extra]})  # fmt: skip
                await send({"type": "http.response.body", "body": b'{"error": {"code": "x", "message": "injected"}}'})
                return
            if action == "slow":
                await anyio.sleep(self.delay)
        await self.app(scope, receive, send)


@dataclass
class Collector:
    """A running collector, its database, keys and fault injector."""

    running: RunningCollector
    db: str
    faults: Faults
    key: str
    read_key: str

    @property
    def url(self) -> str:
        return self.running.url


def start(db: str, port: int = 0, **overrides: Any) -> Any:
    """A collector with a fault injector on ``port`` (0: any): returns (faults, context manager)."""
    settings = ServerSettings(**{"db": db, "rate_limit": 0, "purge_interval_s": 0, **overrides})
    faults = Faults(create_app(settings))
    return faults, run_collector(app=faults, port=port)
