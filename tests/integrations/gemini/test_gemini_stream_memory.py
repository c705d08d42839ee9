"""A stream in progress does not accumulate the SDK's chunk objects (nor work for the garbage collector)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterable
from typing import Any

import pytest
from _gemini_helpers import AIOHTTP_WARNING
from google import genai

import peekr
from peekr.sinks.memory import InMemorySink

pytestmark = pytest.mark.filterwarnings(AIOHTTP_WARNING)

PROMPT = " ".join(f"word{i}" for i in range(40))


def _growth(client: genai.Client) -> int:
    """Tracked objects alive at the last chunk of a 41-chunk stream minus at its first (collector off)."""
    gc.collect()
    gc.disable()
    try:
        counts = [
            gc.get_count()[0]
            for _chunk in client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT)
        ]
    finally:
        gc.enable()
    assert len(counts) == 41
    return counts[-1] - counts[0]


def test_a_stream_in_progress_keeps_few_sdk_chunk_objects(sink: InMemorySink, client: genai.Client) -> None:
    peekr.uninstrument()
    bare = _growth(client)
    peekr.instrument(storage="none", sinks=[sink], providers=["gemini"])
    traced = _growth(client)
    # Buffering every chunk (~25 tracked objects each) until the stream ended kept ~480 more alive at its
    # end than the bare SDK did and ran the collector about once per stream; now it keeps no more.
    assert traced - bare < 200, (traced, bare)
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["output"] == "Echo: " + PROMPT


def _earlier_chunks_alive(chunks: Iterable[Any]) -> list[int]:
    """For each chunk: how many of the stream's earlier chunks were still alive when it arrived."""
    refs: list[weakref.ref[Any]] = []
    alive: list[int] = []
    for chunk in chunks:  # rebinding ``chunk`` drops the caller's own reference to the previous one
        alive.append(sum(ref() is not None for ref in refs))
        refs.append(weakref.ref(chunk))
    return alive


def test_each_chunk_is_freed_as_soon_as_the_caller_drops_it(sink: InMemorySink, client: genai.Client) -> None:
    peekr.uninstrument()
    bare = _earlier_chunks_alive(client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT))
    peekr.instrument(storage="none", sinks=[sink], providers=["gemini"])
    traced = _earlier_chunks_alive(client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT))
    # Buffering chunks (even a few, folded every 4) kept up to 3 earlier chunks and their ~25 objects each
    # alive; each chunk is now read as it arrives and freed when the caller lets go of it, as without peekr.
    assert traced == bare == [0] * 41
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["output"] == "Echo: " + PROMPT


@pytest.mark.anyio
async def test_each_async_chunk_is_freed_as_soon_as_the_caller_drops_it(
    sink: InMemorySink, aclient: genai.Client
) -> None:
    refs: list[weakref.ref[Any]] = []
    alive: list[int] = []
    try:
        async for chunk in await aclient.aio.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT):
            alive.append(sum(ref() is not None for ref in refs))
            refs.append(weakref.ref(chunk))
    finally:
        await aclient.aio.aclose()
    assert alive == [0] * 41
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["output"] == "Echo: " + PROMPT
