"""Sampling behind the ASGI middleware: a request's trace is kept or dropped whole, LLM call included."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import httpx
from app_factory import make_app

import peekr
from peekr.server._testing import RunningCollector
from peekr.sinks.memory import InMemorySink

Serve = Callable[[Any], AbstractContextManager[RunningCollector]]


def test_sampled_requests_are_whole_and_dropped_ones_leave_nothing(serve: Serve) -> None:
    sink = InMemorySink()
    app = make_app(instrument_kwargs={"storage": "none", "sinks": [sink], "sample_rate": 0.5, "keep_errors": False})
    with serve(app) as running, httpx.Client(base_url=running.url) as client:
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda i: client.post(f"/chat/c{i}"), range(60)))
        assert [r.status_code for r in responses] == [200] * 60
        assert peekr.flush(10)
        stats = peekr.stats().sampling
    traces: dict[str, list[str]] = {}
    for span in sink.spans:
        traces.setdefault(span.trace_id, []).append(span.name)
    # every kept request has its root and its LLM span; no LLM call of a dropped request became a trace
    assert all(sorted(names) == ["POST /chat/{conv_id}", "openai.chat.completions"] for names in traces.values())
    assert len(traces) + stats["traces_sampled_out"] == 60
    assert stats["spans_sampled_out"] == 2 * stats["traces_sampled_out"] > 0
