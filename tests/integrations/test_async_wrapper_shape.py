"""Async wrappers keep the SDK method's shape: sync-def-returning-coroutine stays that way."""

from __future__ import annotations

import inspect

import pytest

import peekr

openai = pytest.importorskip("openai")


def _shape() -> tuple[bool, bool, type | None]:
    from openai.resources.chat.completions.completions import AsyncCompletions

    client = openai.AsyncOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0)
    raised: type | None = None
    try:
        client.chat.completions.create()  # missing arguments
    except TypeError as exc:
        raised = type(exc)
    return (
        inspect.iscoroutinefunction(AsyncCompletions.create),
        inspect.iscoroutinefunction(inspect.unwrap(AsyncCompletions.create)),
        raised,
    )


def test_argument_errors_still_raise_at_call_time_and_introspection_is_unchanged() -> None:
    before = _shape()
    peekr.instrument(storage="memory")
    from openai.resources.chat.completions.completions import AsyncCompletions

    assert hasattr(AsyncCompletions.__dict__["create"], "__peekr_wrapped__")
    assert _shape() == before == (False, True, TypeError)
