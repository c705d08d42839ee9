"""`FakeProvider`: the request log, concurrency counters and settings behind the server and transports."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._clients import ClientsMixin
from ._router import handle
from ._server import FakeServer
from ._settings import ChatResponder, Settings
from ._wire import Body, FakeRequest, FakeResponse, Pause

if TYPE_CHECKING:
    import httpx2

__all__ = ["FakeProvider"]


class FakeProvider(ClientsMixin):
    """A fake OpenAI / Anthropic / Gemini / Bedrock endpoint for tests, demos and benchmarks.

    Example:
        >>> with FakeProvider() as fake:  # doctest: +SKIP
        ...     client = fake.openai_client()
        ...     client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
        ...     assert fake.last_request.path == "/v1/chat/completions"

    Args:
        latency: seconds to wait before answering every request (e.g. 0.05 for a 50 ms judge model).
        chat_responder: called with each OpenAI chat request's JSON; returns the assistant text, an
            OpenAI-style message dict (``content`` / ``tool_calls``) or a `Reply`. Default: echo rule.
        host: interface for the HTTP server.
        port: TCP port for the HTTP server; 0 picks a free one.
        max_logged_requests: the request log keeps this many most recent requests.

    Raises:
        ValueError: for a negative latency, a port outside 0-65535 or a non-positive log size.
        TypeError: for a chat_responder that is not callable.

    The HTTP server starts with `start()` or ``with``; the in-process `transport()` needs neither.
    All methods are thread-safe.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        chat_responder: ChatResponder | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_logged_requests: int = 10_000,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {port!r}")
        if max_logged_requests < 1:
            raise ValueError(f"max_logged_requests must be at least 1, got {max_logged_requests!r}")
        self._settings = Settings()
        self.latency = latency
        self.chat_responder = chat_responder
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._log: deque[FakeRequest] = deque(maxlen=max_logged_requests)
        self._in_flight = 0
        self._max_concurrent = 0
        self._server: FakeServer | None = None

    # -- settings --------------------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds to wait before answering every request; may be changed while running."""
        return self._settings.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"latency must be a number of seconds >= 0, got {seconds!r}")
        self._settings.latency = float(seconds)

    @property
    def chat_responder(self) -> ChatResponder | None:
        """The OpenAI chat responder hook, or None for the default echo rule; may be changed while running."""
        return self._settings.chat_responder

    @chat_responder.setter
    def chat_responder(self, responder: ChatResponder | None) -> None:
        if responder is not None and not callable(responder):
            raise TypeError(f"chat_responder must be callable or None, got {type(responder).__name__}")
        self._settings.chat_responder = responder

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeProvider:
        """Start the HTTP server in a daemon thread (idempotent); returns self."""
        with self._lock:
            if self._server is None:
                self._server = FakeServer((self._host, self._port), self)
                self._server.start()
        return self

    def stop(self) -> None:
        """Stop the HTTP server and drop its open connections (idempotent)."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the HTTP server is serving."""
        return self._server is not None

    # -- addresses -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server.

        Raises:
            RuntimeError: when the server is not running.
        """
        server = self._server
        if server is None:
            raise RuntimeError("FakeProvider is not running: use `with FakeProvider() as fake:` or `fake.start()`")
        return f"http://{self._host}:{server.server_port}"

    # -- what tests assert on --------------------------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
        """The logged requests, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    @property
    def last_request(self) -> FakeRequest:
        """The most recent request.

        Raises:
            LookupError: when no request was made yet.
        """
        with self._lock:
            if not self._log:
                raise LookupError("the fake provider has not received any request yet")
            return self._log[-1]

    @property
    def in_flight(self) -> int:
        """Requests being answered now (from arrival until their body is fully sent or closed)."""
        return self._in_flight

    @property
    def max_concurrent(self) -> int:
        """The highest `in_flight` seen since creation or the last `reset()`."""
        return self._max_concurrent

    def reset(self) -> None:
        """Clear the request log and set `max_concurrent` back to the current `in_flight`."""
        with self._lock:
            self._log.clear()
            self._max_concurrent = self._in_flight

    # -- serving ---------------------------------------------------------------------------------

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Log and answer one request; the caller must exhaust or `close()` the response body.

        This is what the HTTP server and the transports call; tests rarely need it directly.
        """
        with self._lock:
            self._log.append(request)
            self._in_flight += 1
            self._max_concurrent = max(self._max_concurrent, self._in_flight)
        response = handle(request, self._settings)
        response.body = _TrackedBody(response.body, self._finished)
        return response

    def _finished(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def transport(self) -> httpx2.BaseTransport:
        """An httpx2 transport answering in-process, no sockets (any host name works in the URL).

        Example: ``OpenAI(base_url="http://fake/v1", http_client=httpx2.Client(transport=fake.transport()))``.
        """
        from ._transport import FakeTransport

        return FakeTransport(self.dispatch)

    def async_transport(self) -> httpx2.AsyncBaseTransport:
        """The async twin of `transport()` (sleeps with anyio, so it works on asyncio and trio)."""
        from ._transport import AsyncFakeTransport

        return AsyncFakeTransport(self.dispatch)

    # The names the first callers were promised; every httpx2 SDK (openai, anthropic, google-genai) can use them.
    openai_transport = transport
    async_openai_transport = async_transport

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not running"
        return f"<FakeProvider {where} requests={len(self._log)} in_flight={self._in_flight}>"


class _TrackedBody:
    """A response body that reports "finished" exactly once: when exhausted, failed or closed."""

    def __init__(self, body: Body, finished: Callable[[], Any]) -> None:
        self._body = body
        self._finished: Callable[[], Any] | None = finished

    def __iter__(self) -> Iterator[bytes | Pause]:
        try:
            yield from self._body
        finally:
            self.close()

    def close(self) -> None:
        finished, self._finished = self._finished, None
        if finished is not None:
            finished()
