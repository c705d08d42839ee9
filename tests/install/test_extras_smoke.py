"""Install this checkout like a user does — as a wheel, with no extra or with one extra only — and try it.

The main test venv has every extra, which hid a missing dependency and an import that only worked when
google-genai was installed. Each case builds a throwaway venv with uv (its cache makes it quick), installs
the wheel built from this checkout, then runs ``smoke.py`` and the installed ``peekr`` CLI in it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = Path(__file__).with_name("smoke.py")
PROVIDER_OF = {"openai": "openai", "anthropic": "anthropic", "bedrock": "bedrock", "bedrock-async": "bedrock"}
PROVIDER_OF["gemini"] = "gemini"
PROVIDER_OF.update(langchain="langchain", chroma="chroma", qdrant="qdrant", llamaindex="llamaindex")
EXTRAS = ["", "openai", "anthropic", "bedrock", "bedrock-async", "gemini", "server", "fastapi", "otlp"]
EXTRAS += ["langchain", "chroma", "qdrant", "llamaindex", "evals", "mcp"]
PROVIDER_OF["agents"] = "openai_agents"
EXTRAS += ["agents"]
ALSO_ENABLED = {"agents": ["openai"]}  # openai-agents depends on openai: its integration is on too

pytestmark = pytest.mark.install_smoke


def _uv() -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (make venv installs it)")
    return uv


def _env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would point Python back at this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(COLUMNS="200", **extra)
    return env


def _run(args: list[str | Path], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, built fresh (uv's cache of a source tree ignores edits to .py files)."""
    out = tmp_path_factory.mktemp("wheel")
    _run([_uv(), "build", "-q", "--wheel", "--out-dir", out, ROOT], cwd=out)
    (built,) = out.glob("peekr_sdk-*.whl")
    return built


def _venv(tmp_path: Path, wheel: Path, extra: str) -> Path:
    venv = tmp_path / "venv"
    uv = _uv()
    _run([uv, "venv", "-q", "--python", sys.executable, venv], cwd=tmp_path)
    requirement = f"peekr-sdk[{extra}] @ {wheel.as_uri()}" if extra else str(wheel)
    _run([uv, "pip", "install", "-q", "--python", venv / "bin" / "python", requirement], cwd=tmp_path)
    return venv


def _smoke(venv: Path, cwd: Path, *args: str) -> dict[str, object]:
    result = _run([venv / "bin" / "python", SMOKE, *args], cwd=cwd)
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.parametrize("extra", EXTRAS, ids=lambda extra: extra or "no-extra")
def test_install_with_one_extra(extra: str, tmp_path: Path, wheel: Path) -> None:
    venv = _venv(tmp_path, wheel, extra)
    work = tmp_path / "work"
    work.mkdir()

    report = _smoke(venv, work, "trace", extra)
    assert str(report["peekr_file"]).startswith(str(venv)), "the smoke run must import the installed peekr"
    providers = [PROVIDER_OF[extra], *ALSO_ENABLED.get(extra, [])] if extra in PROVIDER_OF else []
    assert report["providers"] == sorted(providers)
    if extra == "otlp":
        assert report["otlp_posts"], "the OTLP sink exported nothing"

    view = _run([venv / "bin" / "peekr", "view", "traces.db", "--json"], cwd=work)
    names = sorted(json.loads(line)["name"] for line in view.stdout.splitlines())
    assert names == sorted(report["expected"])  # type: ignore[call-overload]
    table = _run([venv / "bin" / "peekr", "view", "traces.db"], cwd=work)
    assert "smoke-step" in table.stdout

    if extra != "gemini":  # the reported crash: find_spec("google.genai") without a google package
        error = _smoke(venv, work, "missing", "gemini")["error"]
        assert error is not None and "pip install 'peekr-sdk[gemini]'" in str(error), error
        assert "\n" not in str(error)
    if extra == "":
        keys = _run([venv / "bin" / "peekr", "server", "keys", "create", "--tenant", "t"], cwd=work, check=False)
        assert keys.returncode != 0
        assert keys.stdout == ""
        assert keys.stderr.strip() == "Error: the collector needs its extra: pip install 'peekr-sdk[server]'"
    mcp = subprocess.run([venv / "bin" / "peekr", "mcp", "traces.db"], cwd=work, env=_env(), input="",
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    has_mcp = _run([venv / "bin" / "python", "-c", "import mcp"], cwd=work, check=False).returncode == 0
    assert has_mcp == (extra in ("mcp", "agents"))  # openai-agents depends on the mcp SDK
    if has_mcp:  # starts, serves stdin, ends when the client closes it
        assert mcp.returncode == 0, mcp.stderr
    else:
        assert mcp.returncode == 1
        assert mcp.stderr.strip() == "peekr: error: `peekr mcp` needs the mcp extra: pip install 'peekr-sdk[mcp]'"
    if extra in ("", "evals"):  # JsonSchema needs the evals extra, and says so without it
        check = "import peekr; print(peekr.eval.JsonSchema({'type': 'object'}).check('{}'))"
        result = _run([venv / "bin" / "python", "-c", check], cwd=work, check=False)
        if extra == "evals":
            assert result.stdout.strip() == "(True, 'valid')", result.stderr
        else:
            assert 'pip install "peekr-sdk[evals]"' in result.stderr.strip().splitlines()[-1]
    if extra == "server":
        keys = _run([venv / "bin" / "peekr", "server", "keys", "create", "--tenant", "t", "--quiet"], cwd=work)
        assert keys.stdout.startswith("pk_")


def test_llamaindex_with_the_real_llama_index_llms_openai(tmp_path: Path, wheel: Path) -> None:
    """``llama-index-llms-openai`` needs ``openai<3``: its own venv (openai 2.x), the real ``OpenAI`` LLM class."""
    venv = _venv(tmp_path, wheel, "llamaindex,openai")
    _run([_uv(), "pip", "install", "-q", "--python", venv / "bin" / "python", "llama-index-llms-openai"], cwd=tmp_path)
    result = _run([venv / "bin" / "python", Path(__file__).with_name("llamaindex_openai.py")], cwd=tmp_path)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["openai"].startswith("2.")
    assert report["on"] == report["off"] == report["async"] and report["on"].startswith("Echo: ")
    spans = report["spans"]
    for run in {s["trace"] for s in spans if s["name"] == "llamaindex.query"}:  # the sync and the async query
        tree = [(s["name"], s["parent"]) for s in spans if s["trace"] == run]
        assert tree == [
            ("llamaindex.query", None),
            ("llamaindex.retrieve", "llamaindex.query"),
            ("llamaindex.embedding", "llamaindex.retrieve"),
            ("llamaindex.synthesize", "llamaindex.query"),
            ("openai.chat.completions", "llamaindex.synthesize"),  # once: no llamaindex.llm span
        ]
    assert [s["documents"] for s in spans if s["name"] == "llamaindex.retrieve"] == [1, 1]


def test_the_wheel_ships_a_labeled_sample_per_judge_evaluator(wheel: Path) -> None:
    """``peekr eval-judge -e NAME`` without a file reads peekr/evaluators/data/: it must be in the wheel."""
    import zipfile

    from peekr.evaluators._labeled import FORMATS

    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f.sample for f in FORMATS.values() if f"peekr/evaluators/data/{f.sample}" not in names]
    assert missing == []
