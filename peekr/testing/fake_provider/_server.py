"""The loopback HTTP/1.1 server: stdlib `ThreadingHTTPServer`, chunked streams, TCP_NODELAY, quiet disconnects."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from ._wire import FakeRequest, FakeResponse, Pause

__all__ = ["Dispatcher", "FakeServer"]

logger = logging.getLogger("peekr.testing.fake_provider")

_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class Dispatcher(Protocol):
    """What the server serves (a `FakeProvider`): one request in, one response out."""

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Answer one request."""
        ...


class FakeServer(ThreadingHTTPServer):
    """Serves a `FakeProvider` from a daemon thread; `stop()` also closes kept-alive connections."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], provider: Dispatcher) -> None:
        super().__init__(address, _Handler)
        self.provider = provider
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="peekr-fake-provider", daemon=True
        )

    def start(self) -> None:
        """Begin serving in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close the listening socket and every open connection."""
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        # Without TCP_NODELAY every small stream chunk waits ~40 ms for Nagle + delayed ACK on loopback.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is normal for a fake; anything else is logged, not printed."""
        if isinstance(sys.exc_info()[1], (*_DISCONNECTS, OSError)):
            return
        logger.exception("fake provider: error while serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        url = urlsplit(self.path)
        request = FakeRequest.build(
            self.command, unquote(url.path), dict(parse_qsl(url.query)), self.headers.items(), body
        )
        response = self.server.provider.dispatch(request)
        try:
            if response.delay:
                time.sleep(response.delay)
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            if response.streaming:
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for item in response.body:
                    if isinstance(item, Pause):
                        time.sleep(item.seconds)
                    elif item:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(item), item))
                self.wfile.write(b"0\r\n\r\n")
            else:
                data = b"".join(item for item in response.body if not isinstance(item, Pause))
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
        except _DISCONNECTS:
            self.close_connection = True
        finally:
            response.close()
