"""FakeProvider itself: request log, latency, concurrency counters, responder hook, lifecycle, disconnects."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from peekr.testing.fake_provider import FakeProvider, Reply, ToolCall

HELLO: Any = [{"role": "user", "content": "Hello there"}]


def post(url: str, payload: object) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_request_log_records_method_path_headers_and_json(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        client.chat.completions.create(model="a", messages=HELLO)
        client.embeddings.create(model="b", input="x")
    first, second = fake.requests
    assert (first.method, first.path, first.json["model"]) == ("POST", "/v1/chat/completions", "a")
    assert first.headers["content-type"] == "application/json"
    assert second.path == "/v1/embeddings"
    fake.reset()
    assert fake.requests == []
    with pytest.raises(LookupError):
        fake.last_request  # noqa: B018


def test_request_log_is_bounded() -> None:
    with FakeProvider(max_logged_requests=2) as fake:
        for model in ("a", "b", "c"):
            post(fake.openai_base_url + "/chat/completions", {"model": model, "messages": HELLO})
        assert [r.json["model"] for r in fake.requests] == ["b", "c"]


def test_latency_delays_every_answer() -> None:
    with FakeProvider(latency=0.2) as fake, fake.openai_client() as client:
        started = time.perf_counter()
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
        assert time.perf_counter() - started >= 0.2
        fake.latency = 0
        started = time.perf_counter()
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
        assert time.perf_counter() - started < 0.2


def test_model_name_latency_and_slow_streams(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        started = time.perf_counter()
        client.chat.completions.create(model="gpt-latency-150", messages=HELLO)
        assert time.perf_counter() - started >= 0.15
        started = time.perf_counter()
        stream = client.chat.completions.create(model="gpt-slow", messages=HELLO, stream=True)
        arrivals = [time.perf_counter() - started for _ in stream]
    # 50 ms before the headers, then 50 ms between each of the 6 chunks (role, 3 words, finish, [DONE])
    assert arrivals[-1] >= 0.05 * 5


def test_concurrency_counters(fake: FakeProvider) -> None:
    fake.latency = 0.3
    with fake.openai_client() as client:
        threads = [
            threading.Thread(target=client.chat.completions.create, kwargs={"model": "m", "messages": HELLO})
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.15)
        assert fake.in_flight == 4
        for thread in threads:
            thread.join()
    assert (fake.in_flight, fake.max_concurrent) == (0, 4)
    fake.reset()
    assert fake.max_concurrent == 0


def test_responder_receives_request_and_may_return_reply_objects(fake: FakeProvider) -> None:
    fake.chat_responder = lambda request: Reply(text="ok", tool_calls=[ToolCall("f", {"a": 1})])
    with fake.openai_client() as client:
        message = client.chat.completions.create(model="m", messages=HELLO).choices[0].message
    assert message.content == "ok"
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.type == "function" and call.function.arguments == '{"a": 1}'


def test_responder_crash_becomes_a_500_and_is_logged(fake: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: dict[str, object]) -> str:
        raise ValueError("judge bug")

    fake.chat_responder = broken
    with fake.openai_client() as client, pytest.raises(openai.InternalServerError, match="judge bug"):
        client.chat.completions.create(model="m", messages=HELLO)
    assert "fake provider failed" in caplog.text


def test_unknown_route_is_a_404_and_health_check_answers(fake: FakeProvider) -> None:
    status, body = post(fake.url + "/v2/nothing", {})
    assert status == 404 and "no route for POST /v2/nothing" in body["error"]["message"]  # type: ignore[index]
    with urllib.request.urlopen(fake.url + "/health", timeout=5) as response:
        assert json.loads(response.read())["status"] == "ok"


def test_client_disconnect_mid_stream_is_quiet_and_counted_done(
    fake: FakeProvider, capfd: pytest.CaptureFixture[str]
) -> None:
    with fake.openai_client() as client:
        stream = client.chat.completions.create(model="gpt-slow", messages=HELLO, stream=True)
        next(iter(stream))
        stream.close()
    deadline = time.monotonic() + 2
    while fake.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.in_flight == 0
    assert capfd.readouterr().err == ""


def test_stop_closes_kept_alive_connections() -> None:
    fake = FakeProvider().start()
    with fake.openai_client() as client:
        client.chat.completions.create(model="m", messages=HELLO)
        fake.stop()
        with pytest.raises(openai.APIConnectionError):
            client.chat.completions.create(model="m", messages=HELLO)
    assert not fake.running


def test_url_needs_a_running_server_and_bad_arguments_are_rejected() -> None:
    fake = FakeProvider()
    with pytest.raises(RuntimeError, match="not running"):
        fake.url  # noqa: B018
    with pytest.raises(ValueError, match="latency"):
        FakeProvider(latency=-1)
    with pytest.raises(ValueError, match="port"):
        FakeProvider(port=70000)
    with pytest.raises(TypeError, match="chat_responder"):
        FakeProvider(chat_responder="nope")  # type: ignore[arg-type]


def test_fixed_port_and_env() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with FakeProvider(port=port) as fake:
        assert fake.url == f"http://127.0.0.1:{port}"
        assert fake.env()["OPENAI_BASE_URL"] == f"http://127.0.0.1:{port}/v1"
        assert fake.env()["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] == fake.url


def test_importing_the_fake_imports_no_sdk() -> None:
    code = (
        "import sys, peekr.testing.fake_provider as f; f.FakeProvider().start().stop();"
        "print(sorted(m for m in ('openai', 'anthropic', 'google.genai', 'boto3', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    assert out.stdout.strip() == "[]"


def test_chunked_request_bodies_are_read(fake: FakeProvider) -> None:
    payload = json.dumps({"model": "m", "messages": HELLO}).encode()
    chunks = iter([payload[:10], payload[10:]])
    request = urllib.request.Request(fake.openai_base_url + "/chat/completions", chunks, method="POST")
    request.add_header("transfer-encoding", "chunked")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["choices"][0]["message"]["content"] == "Echo: Hello there"
    assert fake.last_request.json["model"] == "m"
