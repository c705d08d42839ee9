"""Cost from the bundled genai-prices data (offline), user prices, and bad price tables."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from peekr._cost import compute_cost, get_prices, set_prices


def _no_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("compute_cost tried to open a network connection")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket.socket, "connect", _no_network)


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"provider": "openai", "model": "gpt-4o", "tokens_input": 1000, "tokens_output": 100}, 0.0035),
        # 500 of the 1,000 input tokens were cache reads at half price.
        (
            {
                "provider": "openai",
                "model": "gpt-4o",
                "tokens_input": 1000,
                "tokens_output": 100,
                "tokens_cache_read": 500,
            },
            0.002875,
        ),
        # Anthropic: 200 cache reads ($0.30/M) and 300 cache writes ($3.75/M) inside 1,000 input tokens.
        (
            {
                "provider": "anthropic",
                "model": "claude-sonnet-4-20250514",
                "tokens_input": 1000,
                "tokens_output": 100,
                "tokens_cache_read": 200,
                "tokens_cache_write": 300,
            },
            0.004185,
        ),
        (
            {
                "provider": "bedrock",
                "model": "anthropic.claude-3-haiku-20240307-v1:0",
                "tokens_input": 1000,
                "tokens_output": 100,
            },
            0.000375,
        ),
        ({"provider": "gemini", "model": "gemini-2.5-flash", "tokens_input": 1000, "tokens_output": 100}, 0.00055),
        ({"provider": "openai", "model": "text-embedding-3-small", "tokens_input": 1000}, 0.00002),
    ],
)
def test_cost_from_bundled_prices_offline(offline: None, attrs: dict[str, Any], expected: float) -> None:
    assert compute_cost(attrs) == pytest.approx(expected)


@pytest.mark.parametrize(
    "attrs",
    [
        {"provider": "openai", "model": "gpt-made-up-9", "tokens_input": 10, "tokens_output": 10},
        {"provider": "openai", "model": "gpt-4o"},  # no token counts
        {"tokens_input": 10},
        {"model": None, "tokens_input": "many"},
        {"model": "gpt-4o", "tokens_input": -5, "tokens_output": True},
    ],
)
def test_unknown_or_unpriceable_is_none_never_zero(offline: None, attrs: dict[str, Any]) -> None:
    assert compute_cost(attrs) is None


def test_user_prices_win_and_can_be_cleared(offline: None) -> None:
    try:
        set_prices(
            {
                "gpt-made-up-9": {"input": 1.0, "output": 2.0},
                "openai/gpt-4o": {"input": 1, "output": 1, "cache_read": 0},
            }
        )
        assert compute_cost({"model": "gpt-made-up-9", "tokens_input": 1_000_000, "tokens_output": 500_000}) == 2.0
        cached = {
            "provider": "openai",
            "model": "gpt-4o",
            "tokens_input": 2_000_000,
            "tokens_output": 0,
            "tokens_cache_read": 1_000_000,
        }
        assert compute_cost(cached) == 1.0
        assert compute_cost({**cached, "provider": "azure"}) != 1.0  # "provider/model" keys apply to that provider only
        assert set(get_prices()) == {"gpt-made-up-9", "openai/gpt-4o"}
    finally:
        set_prices(None)
    assert compute_cost({"model": "gpt-made-up-9", "tokens_input": 1, "tokens_output": 1}) is None


@pytest.mark.parametrize(
    ("prices", "error", "match"),
    [
        ({"m": {"input": 1}}, ValueError, "prices\\['m'\\] needs 'output'"),
        ({"m": {"input": 1, "output": -2}}, ValueError, "must be a non-negative number"),
        ({"m": {"input": 1, "output": 2, "per": 3}}, ValueError, "unknown keys \\['per'\\]"),
        ({"": {"input": 1, "output": 2}}, ValueError, "non-empty 'model' or 'provider/model'"),
        ({"m": 3}, TypeError, "must be a mapping like"),
        ([1], TypeError, "prices must be a mapping"),
    ],
)
def test_set_prices_rejects_bad_input(prices: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        set_prices(prices)


def test_a_price_change_is_seen_by_the_next_span(offline: None) -> None:
    """Prices are cached per (provider, model); set_prices() invalidates the cache at once."""
    attrs = {"provider": "openai", "model": "gpt-4o", "tokens_input": 1000, "tokens_output": 100}
    try:
        assert compute_cost(attrs) == pytest.approx(0.0035)  # bundled price, now cached
        set_prices({"openai/gpt-4o": {"input": 1.0, "output": 1.0}})
        assert compute_cost(attrs) == pytest.approx(0.0011)
        set_prices({"gpt-4o": {"input": 2.0, "output": 2.0}})  # the provider/model key still wins
        assert compute_cost(attrs) == pytest.approx(0.0011)
        set_prices({"gpt-4o": {"input": 2.0, "output": 2.0}}, replace=True)
        assert compute_cost(attrs) == pytest.approx(0.0022)
        set_prices(None)
        assert compute_cost(attrs) == pytest.approx(0.0035)  # back to the bundled table
        unknown = {"provider": "openai", "model": "my-finetune", "tokens_input": 1000, "tokens_output": 0}
        assert compute_cost(unknown) is None  # cached as unknown...
        set_prices({"my-finetune": {"input": 3.0, "output": 3.0}})
        assert compute_cost(unknown) == pytest.approx(0.003)  # ...until a price is set
    finally:
        set_prices(None)


def test_the_price_cache_is_bounded(offline: None) -> None:
    from peekr import _cost

    try:
        set_prices({f"model-{i}": {"input": 1.0, "output": 1.0} for i in range(_cost.PRICE_CACHE_MAX + 50)})
        for i in range(_cost.PRICE_CACHE_MAX + 50):
            assert compute_cost({"model": f"model-{i}", "tokens_input": 1_000_000}) == pytest.approx(1.0)
            assert len(_cost._price_cache) <= _cost.PRICE_CACHE_MAX
    finally:
        set_prices(None)


def test_the_price_table_lookup_cache_is_bounded(offline: None) -> None:
    """Model names come from callers: ones the price table does not know are not remembered without bound."""
    from peekr import _cost

    for i in range(_cost.PRICE_CACHE_MAX + 50):
        assert compute_cost({"provider": "openai", "model": f"no-such-model-{i}", "tokens_input": 10}) is None
        assert len(_cost._lookup_cache) <= _cost.PRICE_CACHE_MAX
    assert compute_cost({"provider": "openai", "model": "gpt-4o-mini", "tokens_input": 1_000_000}) is not None


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # cache reads past the input are cut to the input; cache writes then to what is left (none)
        ({"tokens_input": 1000, "tokens_output": 10, "tokens_cache_read": 2000, "tokens_cache_write": 50}, 520e-6),
        # a float count is truncated, a bool or a negative count is not a count
        ({"tokens_input": 1000.7, "tokens_cache_read": True, "tokens_cache_write": -3}, 1000e-6),
        ({"tokens_input": 100, "tokens_output": 5, "tokens_cache_read": 30.9, "tokens_cache_write": 200}, 305e-6),
        ({"tokens_input": True, "tokens_output": 3}, 6e-6),
        ({"tokens_input": -1, "tokens_output": 2.5}, 4e-6),
    ],
)
def test_odd_token_counts_are_read_the_same_way(offline: None, counts: dict[str, Any], expected: float) -> None:
    """Counts that are not plain non-negative ints (floats, bools, negatives, cache counts past the input)."""
    try:
        set_prices({"m-odd": {"input": 1.0, "output": 2.0, "cache_read": 0.5, "cache_write": 4.0}})
        assert compute_cost({"model": "m-odd", **counts}) == pytest.approx(expected, rel=1e-12)
    finally:
        set_prices(None)
