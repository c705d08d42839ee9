"""The public surface is a tested artifact; bad arguments fail at once; import stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import peekr
from peekr._capture import to_jsonable


def test_all_is_sorted_and_complete() -> None:
    assert list(peekr.__all__) == sorted(peekr.__all__)
    import types

    public = {
        name
        for name in dir(peekr)
        if not name.startswith("_") and not isinstance(getattr(peekr, name), types.ModuleType)
    } | set(peekr._LAZY)
    public -= {"annotations", "Any"}
    assert set(peekr.__all__) - {"__version__"} == public


@pytest.mark.parametrize(
    "name",
    [
        "instrument",
        "session",
        "span",
        "trace",
        "flush",
        "shutdown",
        "stats",
        "Span",
        "HTTPExporter",
        "feedback",
        "export_feedback",
    ],
)
def test_exported_objects_report_module_peekr(name: str) -> None:
    assert getattr(peekr, name).__module__ == "peekr"


def test_import_peekr_imports_no_sdk_httpx_or_aiosqlite() -> None:
    code = (
        "import sys, json, peekr; "
        "print(json.dumps(sorted(m for m in ('openai','anthropic','google.genai','boto3','botocore','aioboto3',"
        "'httpx','httpx2','aiosqlite','fastapi','uvicorn') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}; import sys, json; "
        "print(json.dumps(sorted(m for m in ('pydantic','anyio','sqlite3','rich.markdown') if m in sys.modules)))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}  # coverage itself uses sqlite3
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env).stdout
    return list(json.loads(out))


def test_import_peekr_defers_pydantic_and_the_bus_to_first_use() -> None:
    """`import peekr` costs milliseconds; the first `peekr.instrument` / `peekr.span` loads the rest."""
    assert _loaded_after("import peekr") == []
    assert {"anyio", "pydantic"} <= set(_loaded_after("import peekr; peekr.span"))


def test_the_cli_starts_without_loading_the_trace_readers() -> None:
    """`peekr --help` builds every command without importing pydantic, anyio or sqlite3."""
    assert "pydantic" not in _loaded_after("from peekr.cli._app import build_app; build_app()")


def test_lazily_loaded_names_pickle_and_compare_as_before() -> None:
    import pickle

    span = peekr.Span(
        trace_id="1" * 32, span_id="2" * 16, name="x", start_time="2026-01-01T00:00:00Z",
        end_time="2026-01-01T00:00:01Z", duration_ms=1000.0, status="ok",
    )  # fmt: skip
    assert pickle.loads(pickle.dumps(span)) == span
    from peekr._manual import span as internal_span

    assert peekr.span is internal_span


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"storage": "postgres"}, ValueError, r"storage='postgres'.*sqlite, jsonl, memory, none"),
        ({"retention_class": "weekly"}, ValueError, r"retention_class='weekly'"),
        ({"tenant_id": 7}, TypeError, r"tenant_id.*int"),
        ({"queue_size": 0}, ValueError, r"queue_size.*positive.*0"),
        ({"flush_interval": -1}, ValueError, r"flush_interval"),
        ({"capture_content": "no"}, TypeError, r"capture_content"),
        ({"sinks": [object()]}, TypeError, r"sinks=.*lacks write, flush, aclose"),
        ({"providers": "openai"}, TypeError, r"list of names"),
        ({"providers": ["cohere"]}, ValueError, r"unknown provider 'cohere'"),
    ],
)
def test_bad_instrument_arguments_raise_clearly(kwargs: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        peekr.instrument(storage="none", **kwargs) if "storage" not in kwargs else peekr.instrument(**kwargs)  # type: ignore[arg-type]
    assert peekr.stats().state != "running"


def test_instrument_is_idempotent_and_a_context_manager() -> None:
    first = peekr.instrument(storage="memory")
    assert peekr.instrument(storage="jsonl") is first
    with first:
        pass
    assert peekr.stats().state == "closed"
    assert peekr.shutdown()  # nothing running: fine


def test_flush_and_shutdown_reject_bad_timeouts() -> None:
    with pytest.raises(ValueError, match="timeout"):
        peekr.flush(0)
    with pytest.raises(ValueError, match="timeout"):
        peekr.shutdown(-1)


def test_captured_content_is_bounded_and_json_safe() -> None:
    image = "data:image/png;base64," + "iVBORw0KGgo" * 500
    raw_b64 = "QUJD" * 400
    value = to_jsonable(
        {"text": "x" * 50, "image_url": image, "audio": raw_b64, "blob": b"\x00\x01", 3: {1, 2}, "obj": object()},
        limit=10,
    )
    assert value["text"].startswith("x" * 10) and "truncated 40 of 50 chars" in value["text"]
    assert value["image_url"].startswith("[image/png: ") and "sha256:" in value["image_url"]
    assert value["audio"].startswith("[base64: 1200 bytes")
    assert value["blob"].startswith("[bytes: 2 bytes")
    assert sorted(value["3"]) == [1, 2]
    json.dumps(value)
    prose = "word " * 200
    assert to_jsonable(prose, limit=10_000) == prose


def test_secrets_in_captured_content_are_scrubbed() -> None:
    value = to_jsonable(
        {"headers": {"Authorization": "Bearer sk-live", "X-Trace": "t"}, "api_key": "sk", "max_tokens": 5}
    )
    assert value == {
        "headers": {"Authorization": "[scrubbed]", "X-Trace": "t"},
        "api_key": "[scrubbed]",
        "max_tokens": 5,
    }


def test_captured_content_keeps_every_bound_on_the_common_shapes() -> None:
    """Plain dicts and lists of strings (the shape of chat messages) are bounded like anything else."""

    class Text(str):
        pass

    long = "y" * 30
    value = to_jsonable(
        [{"role": "user", "content": long, "password": "hunter2", "note": Text(long)}, long, ("a", long)], limit=10
    )
    assert value[0]["role"] == "user"
    for cut in (value[0]["content"], value[0]["note"], value[1], value[2][1]):
        assert cut.startswith("y" * 10) and "truncated 20 of 30 chars" in cut
    assert value[0]["password"] == "[scrubbed]"
    deep: list[object] = []
    for _ in range(20):
        deep = [deep]
    assert "nested too deep" in json.dumps(to_jsonable(deep))
    many = {f"k{i}": "v" for i in range(1_200)}
    assert to_jsonable(many)["…"] == "[peekr: 200 more keys]"


def test_secret_keys_stay_scrubbed_past_the_key_cache() -> None:
    """The key-name cache is bounded; secrets are scrubbed before, while and after it refills."""
    for round_ in range(12):  # 12 x 900 distinct key names: the cache fills and is cleared twice
        keys = {f"field_{round_}_{i}": "v" for i in range(900)}
        value = to_jsonable({**keys, "client_secret": "s", "Authorization": "a"})
        assert value["client_secret"] == value["Authorization"] == "[scrubbed]"
        assert value[f"field_{round_}_7"] == "v"


def test_message_dicts_with_known_keys_are_still_copied_and_bounded() -> None:
    """Once a dict's keys are known to be safe, its copy takes a short path: it must bound exactly as before."""
    to_jsonable({"role": "system", "content": "learn the keys"})
    messages = [{"role": "user", "content": "short"}]
    first = to_jsonable(messages, limit=10)
    assert first == messages and first[0] is not messages[0]
    messages[0]["content"] = "changed"  # the user reuses the list: the captured copy stays
    assert first[0]["content"] == "short"
    long, image = "z" * 30, "data:image/png;base64," + "iVBORw0KGgo" * 100
    again = to_jsonable(
        [{"role": "user", "content": long}, {"role": "user", "content": image}, {"role": 7, "content": None}],
        limit=10,
    )
    assert "truncated 20 of 30 chars" in again[0]["content"]
    assert again[1]["content"].startswith("[image/png: ")
    assert again[2] == {"role": 7, "content": None}
    nested: object = {"role": "x"}
    for _ in range(20):
        nested = [{"role": "user", "content": nested}]
    assert "nested too deep" in json.dumps(to_jsonable(nested))
