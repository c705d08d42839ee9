"""Cost of an LLM call in USD, from token counts and a price table that ships with peekr.

Prices come from the `genai-prices <https://pypi.org/project/genai-prices/>`_ package's bundled
snapshot (maintained upstream, updated with each release). peekr never starts genai-prices'
``UpdatePrices`` fetcher, so computing a cost never touches the network.

Users can add or override prices with :func:`set_prices` (USD per million tokens)::

    from peekr._cost import set_prices
    set_prices({
        "my-finetune": {"input": 0.30, "output": 1.20},
        "openai/gpt-4o": {"input": 2.0, "output": 8.0, "cache_read": 0.5},
    })

A key is either ``"model"`` (any provider) or ``"provider/model"`` (that provider only, wins over
the bare model name). ``cache_read`` defaults to the ``input`` price and ``cache_write`` to the
``input`` price when omitted. Token counts follow docs/internals.md: ``tokens_cache_read`` and
``tokens_cache_write`` are *included* in ``tokens_input``.

:func:`compute_cost` runs on the bus thread for every provider span: the price that applies to a
``(provider, model)`` is resolved once and cached (a bounded cache, cleared by :func:`set_prices`),
and it never raises.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

__all__ = ["ModelPrice", "compute_cost", "get_prices", "set_prices", "warm_up"]

logger = logging.getLogger("peekr")

#: peekr's ``provider`` attribute -> genai-prices provider id.
_PROVIDER_IDS: Mapping[str, str] = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "bedrock": "aws",
    "aws": "aws",
    "gemini": "google",
    "google": "google",
    "vertex": "google",
}
_PRICE_KEYS = ("input", "output", "cache_read", "cache_write")
_MISSING = object()


@dataclass(frozen=True)
class ModelPrice:
    """A user-supplied price in USD per million tokens."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def cost(self, tokens_in: int, tokens_out: int, cache_read: int, cache_write: int) -> float:
        """Return the cost in USD; ``tokens_in`` includes the cached tokens."""
        uncached = tokens_in - cache_read - cache_write
        if uncached < 0:
            uncached = 0
        read_price = self.input if self.cache_read is None else self.cache_read
        write_price = self.input if self.cache_write is None else self.cache_write
        total = uncached * self.input + cache_read * read_price + cache_write * write_price + tokens_out * self.output
        return total / 1_000_000


_lock = threading.Lock()
_user_prices: dict[str, ModelPrice] = {}
# (provider, model) -> (genai_prices Provider, ModelInfo) or None when genai-prices does not know it;
# at most ``PRICE_CACHE_MAX`` entries.
_lookup_cache: dict[tuple[str | None, str], Any] = {}
#: (the span's ``provider`` attribute, model) -> the price that applies: a ``ModelPrice`` (a user
#: price, or a flat genai-prices one), genai-prices' ``(Provider, ModelInfo)`` for a price only
#: ``calc_price`` can compute, or None (unknown model). Cleared by ``set_prices``; at most
#: ``PRICE_CACHE_MAX`` entries (cleared when full: model names are few, but they come from callers).
_price_cache: dict[tuple[object, str], Any] = {}
PRICE_CACHE_MAX = 1024
#: Bumped by ``set_prices`` (under ``_lock``): a price resolved before a change is not cached after it.
_generation = 0


def set_prices(prices: Mapping[str, Mapping[str, float]] | None, *, replace: bool = False) -> None:
    """Add or override model prices (USD per million tokens); they win over the bundled table.

    Example:
        >>> set_prices({"my-model": {"input": 1.0, "output": 2.0}})
        >>> compute_cost({"model": "my-model", "tokens_input": 1_000_000, "tokens_output": 0})
        1.0

    Args:
        prices: ``{"model" or "provider/model": {"input": x, "output": y, "cache_read": z, "cache_write": w}}``;
            ``input`` and ``output`` are required, the cache prices default to ``input``.
            ``None`` clears all user prices.
        replace: Drop previously set user prices first.

    Raises:
        TypeError: ``prices`` is not a mapping of mappings.
        ValueError: A key is empty, a price name is unknown or a price is negative or missing.
    """
    parsed: dict[str, ModelPrice] = {}
    if prices is not None:
        if not isinstance(prices, Mapping):
            raise TypeError(f"prices must be a mapping of model name to prices, got {type(prices).__name__}")
        for key, entry in prices.items():
            parsed[_validate_key(key)] = _parse_price(key, entry)
    global _generation
    with _lock:
        if prices is None or replace:
            _user_prices.clear()
        _user_prices.update(parsed)
        _generation += 1
        _price_cache.clear()  # the next span is priced with the new table


def get_prices() -> dict[str, ModelPrice]:
    """Return a copy of the user-supplied prices."""
    with _lock:
        return dict(_user_prices)


def compute_cost(attributes: Mapping[str, Any]) -> float | None:
    """Return the USD cost of one LLM call, or ``None`` when it cannot be priced.

    Example:
        >>> compute_cost({"provider": "openai", "model": "gpt-4o", "tokens_input": 1000, "tokens_output": 100})
        0.0035

    Args:
        attributes: Span attributes; reads ``provider``, ``model``, ``tokens_input``, ``tokens_output``,
            ``tokens_cache_read`` and ``tokens_cache_write`` (cache counts included in ``tokens_input``).

    Returns:
        The cost in USD, or ``None`` for an unknown model or missing token counts (never a made-up 0).
        Never raises.
    """
    try:
        return _compute(attributes)
    except Exception:  # the bus must never die on a price lookup
        logger.debug("peekr could not compute a cost for %r", attributes.get("model"), exc_info=True)
        return None


def _compute(attributes: Mapping[str, Any]) -> float | None:
    model = attributes.get("model")
    if not isinstance(model, str) or not model:
        return None
    # Exact non-negative ints (what every integration records) skip ``_count``; this runs for every span.
    tokens_in = attributes.get("tokens_input")
    if type(tokens_in) is not int or tokens_in < 0:
        tokens_in = _count(tokens_in)
    tokens_out = attributes.get("tokens_output")
    if type(tokens_out) is not int or tokens_out < 0:
        tokens_out = _count(tokens_out)
    if tokens_in is None and tokens_out is None:
        return None
    tokens_in = tokens_in or 0
    tokens_out = tokens_out or 0
    cache_read = attributes.get("tokens_cache_read")
    if cache_read is None:
        cache_read = 0
    else:
        if type(cache_read) is not int or cache_read < 0:
            cache_read = _count(cache_read) or 0
        if cache_read > tokens_in:
            cache_read = tokens_in
    cache_write = attributes.get("tokens_cache_write")
    if cache_write is None:
        cache_write = 0
    else:
        if type(cache_write) is not int or cache_write < 0:
            cache_write = _count(cache_write) or 0
        if cache_write > tokens_in - cache_read:
            cache_write = tokens_in - cache_read
    raw_provider = attributes.get("provider")
    key = (raw_provider, model)
    price = _price_cache.get(key, _MISSING)
    if price is _MISSING:
        price = _resolve(key, raw_provider, model)
    if price is None:
        return None
    if type(price) is ModelPrice:  # a user price, or the common case: plain per-token prices
        return price.cost(tokens_in, tokens_out, cache_read, cache_write)
    return _genai_cost(price, tokens_in, tokens_out, cache_read, cache_write)


def _resolve(key: tuple[object, str], raw_provider: object, model: str) -> Any:
    """The price that applies to ``(provider, model)`` (see ``_price_cache``), cached."""
    generation = _generation
    provider = raw_provider.lower() if isinstance(raw_provider, str) and raw_provider else None
    price: Any = _user_price(provider, model)
    if price is None:
        price = _lookup(provider, model)
        if price is not None:
            price = _flat_price(price) or price
    with _lock:
        if generation == _generation:  # no set_prices() since this was resolved
            if len(_price_cache) >= PRICE_CACHE_MAX:
                _price_cache.clear()
            _price_cache[key] = price
    return price


_flat_cache: dict[int, ModelPrice | None] = {}


def warm_up() -> None:
    """Import genai-prices and load its table (about a second); never raises."""
    try:
        from genai_prices import data_snapshot

        data_snapshot.get_snapshot()
    except Exception:
        logger.debug("peekr could not load the price table", exc_info=True)


def _flat_price(found: Any) -> ModelPrice | None:
    """The model's prices as plain per-million rates, when that reproduces genai-prices exactly.

    genai-prices' ``calc_price`` costs a few hundred µs (Decimal arithmetic, unit registry); for a
    flat price the same result is four multiplications. The rates are read once per model and
    checked against ``calc_price`` on a probe usage; tiered, conditional or per-request prices
    fail the check and keep using ``calc_price``.
    """
    key = id(found)
    if key in _flat_cache:
        return _flat_cache[key]
    result: ModelPrice | None = None
    try:
        price = found[1].prices
        rates = [getattr(price, f"{name}_mtok", None) for name in ("input", "output", "cache_read", "cache_write")]
        if all(r is None or isinstance(r, (int, float, Decimal)) for r in rates) and None not in rates[:2]:
            candidate = ModelPrice(*(float(r) if r is not None else None for r in rates))  # type: ignore[arg-type]
            probe = (3_000_000, 700_000, 500_000, 250_000)
            expected = _genai_cost(found, *probe)
            if abs(candidate.cost(*probe) - expected) <= 1e-9 * max(1.0, expected):
                result = candidate
    except Exception:
        result = None
    _flat_cache[key] = result
    return result


def _genai_cost(found: Any, tokens_in: int, tokens_out: int, cache_read: int, cache_write: int) -> float:
    from genai_prices import Usage

    gp_provider, gp_model = found
    usage = Usage(
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cache_read_tokens=cache_read or None,
        cache_write_tokens=cache_write or None,
    )
    calc = gp_model.calc_price(usage, gp_provider, genai_request_timestamp=datetime.now(tz=timezone.utc))
    return float(calc.total_price)


def _user_price(provider: str | None, model: str) -> ModelPrice | None:
    if not _user_prices:
        return None
    with _lock:
        if provider is not None:
            price = _user_prices.get(f"{provider}/{model}")
            if price is not None:
                return price
        return _user_prices.get(model)


def _lookup(provider: str | None, model: str) -> Any:
    key = (provider, model)
    found = _lookup_cache.get(key, _MISSING)
    if found is not _MISSING:
        return found
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    provider_id = _PROVIDER_IDS.get(provider, provider) if provider else None
    result: Any = None
    for pid in (provider_id, None) if provider_id else (None,):
        try:
            result = snapshot.find_provider_model(model, None, pid, None)
            break
        except LookupError:
            continue
    if len(_lookup_cache) >= PRICE_CACHE_MAX:
        _lookup_cache.clear()  # model names come from callers: bounded like ``_price_cache``
    _lookup_cache[key] = result
    return result


def _count(value: object) -> int | None:
    if type(value) is int:
        return value if value >= 0 else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return int(value)


def _validate_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"price key {key!r} must be a non-empty 'model' or 'provider/model' string")
    return key.strip()


def _parse_price(key: str, entry: object) -> ModelPrice:
    if not isinstance(entry, Mapping):
        raise TypeError(f"prices[{key!r}] must be a mapping like {{'input': 2.5, 'output': 10}}, got {entry!r}")
    unknown = set(entry) - set(_PRICE_KEYS)
    if unknown:
        raise ValueError(f"prices[{key!r}] has unknown keys {sorted(unknown)}; expected {', '.join(_PRICE_KEYS)}")
    values: dict[str, float | None] = {}
    for name in _PRICE_KEYS:
        value = entry.get(name)
        if value is None:
            if name in ("input", "output"):
                raise ValueError(f"prices[{key!r}] needs {name!r} (USD per million tokens)")
            values[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"prices[{key!r}][{name!r}] must be a non-negative number, got {value!r}")
        values[name] = float(value)
    return ModelPrice(**values)  # type: ignore[arg-type]
