"""A real FastAPI app under uvicorn: one trace per request, LLM spans as its children."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from app_factory import make_app
from attrs_helper import attrs

from peekr import Span
from peekr.server._testing import RunningCollector
from peekr.sinks.memory import InMemorySink

Serve = Callable[[Any], AbstractContextManager[RunningCollector]]


def by_trace(spans: list[Span]) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return traces


def root_of(spans: list[Span]) -> Span:
    (root,) = [s for s in spans if attrs(s).get("http.request.method")]
    return root


@pytest.mark.parametrize("bus", ["thread", "loop"])
def test_concurrent_requests_are_one_trace_each(serve: Serve, bus: str) -> None:
    sink = InMemorySink()

    def extract(request: Any) -> dict[str, str]:
        return {"user_id": request.headers["x-user"], "tenant_id": request.query_params.get("tenant", "t0")}

    app = make_app(instrument_kwargs={"storage": "none", "sinks": [sink]}, extract=extract, bus=bus)
    with serve(app) as running, httpx.Client(base_url=running.url) as client:

        def call(i: int) -> httpx.Response:
            return client.post(f"/chat/c{i}?tenant=t{i}", headers={"x-user": f"u{i}"})

        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(call, range(24)))
    assert [r.status_code for r in responses] == [200] * 24
    assert responses[3].json() == {"conv_id": "c3", "reply": "Echo: message for c3"}

    traces = by_trace(sink.spans)
    assert len(traces) == 24
    users = set()
    for spans in traces.values():
        assert len(spans) == 2
        root = root_of(spans)
        (llm,) = [s for s in spans if s is not root]
        assert root.name == "POST /chat/{conv_id}"
        assert root.parent_id is None
        assert root.status == "ok"
        assert attrs(root)["endpoint"] == attrs(root)["http.route"] == "/chat/{conv_id}"
        assert attrs(root)["http.response.status_code"] == 200
        assert llm.name == "openai.chat.completions"
        assert llm.parent_id == root.span_id
        # the user's extract() and the route template reach the LLM span, which answered this request
        assert attrs(llm)["endpoint"] == "/chat/{conv_id}"
        conv = attrs(root)["url.path"].rsplit("/", 1)[1]
        assert attrs(llm)["input"][0]["content"] == f"message for {conv}"
        assert attrs(llm)["user_id"] == attrs(root)["user_id"] == "u" + conv[1:]
        assert llm.tenant_id == root.tenant_id == "t" + conv[1:]
        assert root.start_time <= llm.start_time and llm.end_time <= root.end_time
        users.add(attrs(llm)["user_id"])
    assert len(users) == 24
    assert app.state.started == ["app", "app-stopped"]


def test_route_template_session_and_excluded_paths(serve: Serve) -> None:
    sink = InMemorySink()
    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]})) as running:
        assert httpx.get(running.url + "/users/42/summary").status_code == 200
        assert httpx.get(running.url + "/healthz").status_code == 200  # excluded: its LLM span is a root
        assert httpx.get(running.url + "/no/such/route").status_code == 404
        assert httpx.post(running.url + "/items/x").status_code == 405
    spans = sink.spans
    names = sorted(s.name for s in spans)
    assert names == [
        "GET",  # no route matched: the method alone, never the raw path
        "GET /users/{user_id}/summary",
        "POST /items/{item_id}",  # the path matched, the method did not: 405
        "openai.chat.completions",
        "openai.chat.completions",
    ]
    summary = next(s for s in spans if s.name == "GET /users/{user_id}/summary")
    child = next(s for s in spans if s.parent_id == summary.span_id)
    assert attrs(child)["feature"] == "summary" and attrs(child)["endpoint"] == "/users/{user_id}/summary"
    health = next(s for s in spans if s.name == "openai.chat.completions" and s is not child)
    assert health.parent_id is None
    assert attrs(next(s for s in spans if s.name == "GET"))["http.response.status_code"] == 404
    assert attrs(next(s for s in spans if s.name == "POST /items/{item_id}"))["http.response.status_code"] == 405


def test_context_follows_tasks_task_groups_and_threads(serve: Serve) -> None:
    sink = InMemorySink()
    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]})) as running:
        assert httpx.get(running.url + "/fanout").json() == {"calls": 4}
        assert httpx.get(running.url + "/sync").status_code == 200
    roots = {s.name: s for s in sink.spans if s.parent_id is None}
    assert set(roots) == {"GET /fanout", "GET /sync"}
    children = [s for s in sink.spans if s.parent_id == roots["GET /fanout"].span_id]
    assert len(children) == 4 and all(s.trace_id == roots["GET /fanout"].trace_id for s in children)
    assert [s.parent_id for s in sink.spans if s.name == "openai.chat.completions"].count(
        roots["GET /sync"].span_id
    ) == 1


def test_handler_exception_is_an_error_span_and_the_normal_500(serve: Serve) -> None:
    sink = InMemorySink()
    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]})) as running:
        response = httpx.get(running.url + "/boom")
        assert httpx.get(running.url + "/llm-error").json() == {"error": "RateLimitError"}
    assert response.status_code == 500
    assert response.text == "Internal Server Error"  # Starlette's own response, untouched
    root = next(s for s in sink.spans if s.name == "GET /boom")
    assert root.status == "error"
    assert attrs(root)["error"] == {"type": "ValueError", "message": "handler bug"}
    assert attrs(root)["http.response.status_code"] == 500
    assert next(s for s in sink.spans if s.parent_id == root.span_id).status == "ok"
    handled = next(s for s in sink.spans if s.name == "GET /llm-error")
    assert handled.status == "ok" and attrs(handled)["http.response.status_code"] == 200
    llm = next(s for s in sink.spans if s.parent_id == handled.span_id)
    assert llm.status == "error" and attrs(llm)["error"]["type"] == "openai.RateLimitError"


def test_http_exception_status_comes_from_its_code(serve: Serve) -> None:
    sink = InMemorySink()
    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]})) as running:
        missing = httpx.get(running.url + "/items/abc")
        unavailable = httpx.get(running.url + "/unavailable")
    assert missing.status_code == 404 and missing.json() == {"detail": "no item abc"}
    assert unavailable.status_code == 503
    spans = {s.name: s for s in sink.spans}
    not_found = spans["GET /items/{item_id}"]
    assert attrs(not_found)["http.response.status_code"] == 404
    assert not_found.status == "ok"  # a 4xx is the client's error, not the server's
    down = spans["GET /unavailable"]
    assert attrs(down)["http.response.status_code"] == 503
    assert down.status == "error" and attrs(down)["error"] == {"type": "HTTPStatus", "message": "HTTP 503"}


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.mark.parametrize(
    ("header", "continued"),
    [
        (f"00-{TRACE_ID}-{PARENT_ID}-01", True),
        (f"00-{TRACE_ID}-{PARENT_ID}-00", True),
        (f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", False),
        (f"00-{'0' * 32}-{PARENT_ID}-01", False),
        (f"ff-{TRACE_ID}-{PARENT_ID}-01", False),
        (f"00-{TRACE_ID}-{PARENT_ID}", False),
        ("garbage", False),
    ],
)
def test_traceparent_continues_the_callers_trace(serve: Serve, header: str, continued: bool) -> None:
    sink = InMemorySink()
    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]})) as running:
        assert httpx.post(running.url + "/chat/x", headers={"traceparent": header}).status_code == 200
    root = next(s for s in sink.spans if s.name == "POST /chat/{conv_id}")
    llm = next(s for s in sink.spans if s.name == "openai.chat.completions")
    assert llm.trace_id == root.trace_id and llm.parent_id == root.span_id
    if continued:
        assert (root.trace_id, root.parent_id) == (TRACE_ID, PARENT_ID)
    else:
        assert root.trace_id != TRACE_ID and root.parent_id is None


def test_a_failing_extract_is_logged_once_and_the_requests_still_traced(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    sink = InMemorySink()

    def extract(request: Any) -> dict[str, str]:
        raise KeyError("x-user")

    with caplog.at_level(logging.WARNING, "peekr"):
        with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]}, extract=extract)) as running:
            assert httpx.post(running.url + "/chat/a").status_code == 200
            assert httpx.post(running.url + "/chat/b").status_code == 200
    assert len(sink.spans) == 4
    assert all("user_id" not in attrs(s) for s in sink.spans)
    assert sum("extract" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("returned", [["not", "a", "dict"], {"user": "u1"}, {"user_id": 7}, {"retention_class": "x"}])
def test_a_bad_extract_result_is_ignored(serve: Serve, returned: object, caplog: pytest.LogCaptureFixture) -> None:
    sink = InMemorySink()
    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]}, extract=lambda r: returned)) as running:
        assert httpx.post(running.url + "/chat/a").status_code == 200
    assert {s.name for s in sink.spans} == {"POST /chat/{conv_id}", "openai.chat.completions"}
    assert all(attrs(s)["endpoint"] == "/chat/{conv_id}" for s in sink.spans)
    assert any("extract" in r.getMessage() for r in caplog.records)


def test_async_extract(serve: Serve) -> None:
    sink = InMemorySink()

    async def extract(request: Any) -> dict[str, Any]:
        return {"session_id": request.headers["x-session"], "attributes": {"plan": "pro"}}

    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]}, extract=extract)) as running:
        assert httpx.post(running.url + "/chat/a", headers={"x-session": "s-1"}).status_code == 200
    assert [(attrs(s)["session_id"], attrs(s)["plan"]) for s in sink.spans] == [("s-1", "pro")] * 2


@pytest.mark.swallows_internal_errors
def test_peekr_failing_inside_never_reaches_the_app(serve: Serve) -> None:
    from peekr._errors import inject_faults

    sink = InMemorySink()
    with serve(make_app(instrument_kwargs={"storage": "none", "sinks": [sink]})) as running:
        inject_faults(True)  # every internal step of peekr now raises
        try:
            ok = httpx.post(running.url + "/chat/a")
            boom = httpx.get(running.url + "/boom")
            with httpx.stream("GET", running.url + "/stream") as response:
                streamed = response.read().decode()
        finally:
            inject_faults(False)
    assert ok.status_code == 200 and ok.json() == {"conv_id": "a", "reply": "Echo: message for a"}
    assert boom.status_code == 500 and boom.text == "Internal Server Error"
    assert streamed == "Echo: one two three four|Echo: after the stream"
    assert not [s for s in sink.spans if attrs(s).get("http.request.method")]
