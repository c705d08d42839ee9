"""Sampling LangChain chains: a chain's trace is kept or dropped whole, held (keep_errors) or not."""

from __future__ import annotations

from collections import Counter

from _langchain_chain import CHAIN_TREE, make_chain

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider


def _trace_sizes(keep_errors: bool, server: FakeProvider) -> Counter[int]:
    chain = make_chain(server)
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], sample_rate=0.5, keep_errors=keep_errors)
    for i in range(40):
        chain.invoke({"topic": f"owls {i}"})
    assert peekr.flush(10)
    stats = peekr.stats().sampling
    sizes = Counter(Counter(s.trace_id for s in sink.spans).values())
    assert sum(sizes.values()) + stats["traces_sampled_out"] == 40
    return sizes


def test_held_chain_traces_are_kept_or_dropped_whole(server: FakeProvider) -> None:
    assert set(_trace_sizes(True, server)) == {len(CHAIN_TREE)}


def test_dropped_chain_traces_leave_no_fragments(server: FakeProvider) -> None:
    assert set(_trace_sizes(False, server)) == {len(CHAIN_TREE)}
