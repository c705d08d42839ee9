"""An OpenAI-compatible server that refuses ``response_format: json_schema`` (llama-cpp-python's
server answers HTTP 500 naming it): the judge asks again with ``json_object`` and keeps doing so."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

import peekr
from peekr.cli._app import build_app
from peekr.evaluators._fake_judge import FakeJudge

# What llama-cpp-python 0.2.60's server answered peekr's judge (seen against its real server).
REFUSAL = (
    "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}"
)


class _Server:
    """A minimal OpenAI-compatible chat server: no json_schema, answers with the fake judge."""

    def __init__(self, status: int, message: str) -> None:
        self.formats: list[str | None] = []
        judge = FakeJudge()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fmt = (body.get("response_format") or {}).get("type")
                outer.formats.append(fmt)
                if fmt == "json_schema":
                    self._send(status, {"error": {"message": message, "type": "internal_server_error"}})
                    return
                message_ = {"role": "assistant", "content": judge(body)}
                choice = {"index": 0, "message": message_, "finish_reason": "stop"}
                usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                 "choices": [choice], "usage": usage})  # fmt: skip

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def refusing() -> Iterator[_Server]:
    server = _Server(500, REFUSAL)
    yield server
    server.close()


def test_a_refused_json_schema_falls_back_to_json_object(refusing: _Server, caplog: pytest.LogCaptureFixture) -> None:
    judge = peekr.eval.OpenAIJudge("smollm2", base_url=refusing.base_url, api_key="local", max_retries=0)
    evaluator = peekr.eval.Hallucination(judge=judge)

    async def main() -> Any:
        first = await evaluator.check("Paris is the capital of France.", "Paris is the capital of France.")
        second = await evaluator.check("Paris is the capital of France.", "Paris is the capital of Spain.")
        await evaluator.aclose()
        return first, second

    with caplog.at_level(logging.WARNING, logger="peekr"):
        first, second = anyio.run(main)
    assert (first.score, second.score) == (1.0, 0.0)
    # one refused json_schema call, then json_object for every call: extraction + verification, twice
    assert refusing.formats == ["json_schema", "json_object", "json_object", "json_object", "json_object"]
    warnings = [r.getMessage() for r in caplog.records if "refused response_format json_schema" in r.getMessage()]
    assert len(warnings) == 1 and "asking for json_object from now on" in warnings[0]


def test_other_http_errors_are_not_retried_with_json_object(tmp_path: Path) -> None:
    server = _Server(500, "CUDA out of memory")
    labeled = tmp_path / "ar.jsonl"
    labeled.write_text(json.dumps({"question": "Where is Paris?", "answer": "In France.", "label": "pass"}) + "\n")
    try:
        args = ["eval-judge", str(labeled), "-e", "answer_relevance", "--model", "m", "--base-url", server.base_url]
        result = CliRunner().invoke(build_app(), [*args, "--api-key", "local", "--json"], env={"NO_COLOR": "1"})
        assert result.exit_code == 1
        (row,) = json.loads(result.stdout)["rows"]
        assert "HTTP 500" in row["error"] and "CUDA out of memory" in row["error"]
        assert set(server.formats) == {"json_schema"}  # the SDK's own retries; never json_object
    finally:
        server.close()
