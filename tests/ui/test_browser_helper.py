"""The test browser's polling survives a page that is between documents (the flake seen in CI)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from _browser import Browser

_PAGE = b"<!doctype html><title>plain</title>"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(_PAGE)))
        self.end_headers()
        self.wfile.write(_PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_wait_for_keeps_polling_while_the_page_reloads(browser: Browser, page: str) -> None:
    # Each of the first two polls reloads the page while it is still pending, as a poll does that
    # lands while a page redirects: DevTools drops it with "Inspected target navigated or closed".
    browser.goto(page)
    poll = (
        "(sessionStorage.polls = Number(sessionStorage.polls || 0) + 1) < 3"
        " ? (location.reload(), new Promise(() => {})) : Number(sessionStorage.polls)"
    )
    assert browser.wait_for(poll, timeout=30) == 3


def test_wait_for_still_reports_a_broken_expression(browser: Browser, page: str) -> None:
    browser.goto("about:blank")
    with pytest.raises(RuntimeError, match="ReferenceError"):
        browser.wait_for("no_such_name.value", timeout=2)
