"""What peekr adds per stream chunk, as Python-level steps on the caller's thread (deterministic, unlike time).

A profile hook counts every Python function call or generator step (``call``) and builtin call (``c_call``)
while a stream is consumed through the real SDK; the slope between two stream lengths, with and without
peekr, is what peekr adds per chunk (per-stream work cancels). Without peekr's own layers that figure would be
zero; the bounds are what recording needs: the traced iterator's step and the integration's ``on_chunk``. The
chat stream-usage filter runs inside the SDK decoder's own loop (one generator where the SDK has two), so it
adds no step of its own; so does the chat recorder, whose step and ``on_chunk`` body run inside peekr's copy of
the SDK's stream loop (``openai._chat_loop``): a chat stream takes two Python steps per chunk fewer than
without peekr (the decoder's two generators are one, the SDK's loop and the traced generator are one).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import openai
import pytest
from _openai_expect import SDK_ASYNCGEN_WARNING

import peekr
from peekr.sinks.memory import InMemorySink

pytestmark = pytest.mark.filterwarnings(SDK_ASYNCGEN_WARNING)

SHORT, LONG = 5, 25  # words echoed: the fake streams one chunk (Responses: one text delta) per word


def _prompt(words: int) -> str:
    return " ".join(f"w{i}" for i in range(words))


def _steps(consume: Callable[[int], Any], words: int) -> dict[str, int]:
    counts = {"call": 0, "c_call": 0}

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event in counts:
            counts[event] += 1

    gc.collect()  # no finalizer of an earlier test's objects runs inside the count
    gc.disable()
    sys.setprofile(hook)
    try:
        consume(words)
    finally:
        sys.setprofile(None)
        gc.enable()
    return counts


def _per_chunk(consume: Callable[[int], Any]) -> dict[str, float]:
    consume(SHORT)  # imports, caches
    short, long = _steps(consume, SHORT), _steps(consume, LONG)
    return {event: (long[event] - short[event]) / (LONG - SHORT) for event in short}


def _added(consume: Callable[[int], Any]) -> dict[str, float]:
    without = _per_chunk(consume)
    peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["openai"])
    with_peekr = _per_chunk(consume)
    return {event: with_peekr[event] - without[event] for event in without}


def _chat(client: openai.OpenAI) -> Callable[[int], Any]:
    def consume(words: int) -> Any:
        messages: Any = [{"role": "user", "content": _prompt(words)}]
        return list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True))

    return consume


def _responses(client: openai.OpenAI) -> Callable[[int], Any]:
    def consume(words: int) -> Any:
        return list(client.responses.create(model="gpt-4o", input=_prompt(words), stream=True))

    return consume


def test_chat_stream_adds_no_python_step_per_chunk(client: openai.OpenAI) -> None:
    added = _added(_chat(client))
    # was 3 (the usage filter a generator step of its own), then 0 (the traced generator's step and a call of
    # ``on_chunk``): both now run inside the copies of the SDK's loops, one step fewer each than the SDK's own
    assert added["call"] <= -2, added
    assert added["c_call"] <= 3.5, added  # was 4: ``finalize`` joins the text without a loop over the pieces


def test_responses_stream_adds_at_most_two_python_steps_per_chunk(client: openai.OpenAI) -> None:
    added = _added(_responses(client))
    assert added["call"] <= 2, added
    assert added["c_call"] <= 2, added


@pytest.mark.anyio
async def test_async_chat_stream_adds_no_python_step_per_chunk(aclient: openai.AsyncOpenAI) -> None:
    steps: dict[str, dict[str, int]] = {}

    async def consume(words: int) -> list[Any]:
        messages: Any = [{"role": "user", "content": _prompt(words)}]
        stream = await aclient.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
        return [chunk async for chunk in stream]

    async def measure(label: str) -> None:
        await consume(SHORT)
        for words in (SHORT, LONG):
            counts = {"call": 0, "c_call": 0}

            def hook(frame: FrameType, event: str, arg: Any, counts: dict[str, int] = counts) -> None:
                if event in counts:
                    counts[event] += 1

            gc.collect()
            gc.disable()
            sys.setprofile(hook)
            try:
                await consume(words)
            finally:
                sys.setprofile(None)
                gc.enable()
            steps[f"{label}{words}"] = counts

    await measure("none")
    peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["openai"])
    await measure("peekr")
    added = {
        event: (steps[f"peekr{LONG}"][event] - steps[f"peekr{SHORT}"][event])
        - (steps[f"none{LONG}"][event] - steps[f"none{SHORT}"][event])
        for event in ("call", "c_call")
    }
    # was 7 (a filter step and a coroutine per event), then 0 (as in the sync test)
    assert added["call"] / (LONG - SHORT) <= -2, added
    assert added["c_call"] / (LONG - SHORT) <= 3.5, added  # trio's own steps vary by a few per stream
