"""Streaming responses, client disconnects, and the lifespan helper's startup and shutdown."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from app_factory import make_app
from attrs_helper import attrs

import peekr
from peekr._runtime import get_runtime
from peekr.server._testing import RunningCollector
from peekr.sinks.memory import InMemorySink

Serve = Callable[[Any], AbstractContextManager[RunningCollector]]


@pytest.mark.parametrize("bus", ["thread", "loop"])
def test_streaming_response_spans_belong_to_the_request_and_end_after_the_body(serve: Serve, bus: str) -> None:
    sink = InMemorySink()
    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]}, bus=bus)) as running:
        with httpx.stream("GET", running.url + "/stream") as response:
            chunks = list(response.iter_text())
    assert "".join(chunks) == "Echo: one two three four|Echo: after the stream"
    root = next(s for s in sink.spans if s.name == "GET /stream")
    children = sorted((s for s in sink.spans if s.parent_id == root.span_id), key=lambda s: s.start_time)
    assert [s.name for s in children] == ["openai.chat.completions"] * 2
    streamed, after = children
    assert attrs(streamed)["stream"] is True and attrs(streamed)["output"] == "Echo: one two three four"
    assert attrs(streamed)["tokens_output"] == 5 and streamed.status == "ok"
    assert all(s.trace_id == root.trace_id for s in children)
    # the request span covers the whole body: it ends after the last LLM span inside it
    assert root.end_time >= after.end_time >= streamed.end_time
    assert root.duration_ms >= 250  # the slow fake streams 5 chunks 50 ms apart
    assert root.status == "ok" and attrs(root)["http.response.status_code"] == 200
    assert "client_disconnected" not in attrs(root)


def test_server_sent_events(serve: Serve) -> None:
    sink = InMemorySink()
    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]})) as running:
        with httpx.stream("GET", running.url + "/sse") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events == [f"data: Echo: event {i}" for i in range(3)]
    root = next(s for s in sink.spans if s.name == "GET /sse")
    children = [s for s in sink.spans if s.parent_id == root.span_id]
    assert len(children) == 3
    assert root.end_time >= max(s.end_time for s in children)


def test_client_disconnect_mid_stream_ends_the_request_span(serve: Serve) -> None:
    sink = InMemorySink()
    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]})) as running:
        with httpx.stream("GET", running.url + "/endless") as response:
            first = next(response.iter_lines())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            peekr.flush()
            if any(s.name == "GET /endless" for s in sink.spans):
                break
            time.sleep(0.02)
    assert first == "Echo: hello there"
    root = next(s for s in sink.spans if s.name == "GET /endless")
    assert attrs(root)["client_disconnected"] is True
    assert root.status == "ok"  # the client went away: not a server error
    assert [s.name for s in sink.spans if s.parent_id == root.span_id] == ["openai.chat.completions"]


@pytest.mark.parametrize("bus", ["thread", "loop"])
def test_shutdown_flushes_everything_to_sqlite(serve: Serve, tmp_path: Path, bus: str) -> None:
    db = tmp_path / "traces.db"
    app = make_app(instrument_kwargs={"storage": "sqlite", "path": db, "flush_interval": 30}, bus=bus)
    with serve(app) as running, httpx.Client(base_url=running.url) as client:
        for i in range(30):
            assert client.post(f"/chat/{i}").status_code == 200
        with client.stream("GET", "/stream") as response:
            response.read()
    # no flush() anywhere: stopping the server ran the lifespan's shutdown
    assert peekr.stats().state == "closed"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, COUNT(*) FROM spans GROUP BY name ORDER BY name").fetchall()
    assert rows == [("GET /stream", 1), ("POST /chat/{conv_id}", 30), ("openai.chat.completions", 32)]
    assert sum(peekr.stats().dropped.values()) == 0


def test_lifespan_leaves_an_existing_instrumentation_running(serve: Serve) -> None:
    sink = InMemorySink()
    handle = peekr.instrument(storage="none", sinks=[sink], flush_interval=30)
    with serve(make_app(instrument_kwargs={"storage": "sqlite"})) as running:
        assert httpx.post(running.url + "/chat/a").status_code == 200
    # lifespan(storage="sqlite") did not start peekr, so it only flushed at shutdown
    assert peekr.stats().state == "running"
    assert len(sink.spans) == 2
    assert not Path("traces.db").exists()
    handle.shutdown()


def test_app_without_the_lifespan_helper_is_not_traced(serve: Serve) -> None:
    with serve(make_app(use_lifespan=False)) as running:
        assert httpx.post(running.url + "/chat/a").json()["reply"] == "Echo: message for a"
    assert get_runtime() is None  # the middleware passed every request straight through
