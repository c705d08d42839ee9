"""Turning request and response content into bounded, JSON-safe span attributes.

Every provider integration passes its ``input``/``output``/``request`` values through
``capture()``. It returns None when ``capture_content=False``; otherwise a JSON-safe copy where
long strings are cut at ``max_field_chars`` (with a visible marker), base64 payloads (images,
audio, documents) are replaced by their size and a hash, SDK/pydantic objects become dicts, and
containers are bounded in depth and length — a span is never dropped for its size. Values under
keys that name secrets (``api_key``, ``authorization``, ``password``, ``secret``, ``private_key``,
``access_token``...) are replaced by ``"[scrubbed]"``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ._runtime import get_runtime

__all__ = ["capture", "to_jsonable"]

_MAX_DEPTH = 12
_MAX_ITEMS = 1_000
_BASE64_MIN = 512
_BASE64_RE = re.compile(r"[A-Za-z0-9+/_\-\r\n]+={0,2}")
#: Mapping keys whose values are never recorded (STYLE rule 17: scrubbed by default).
_SECRET_KEY_RE = re.compile(
    r"(api[_-]?key|authorization|password|passwd|secret|private[_-]?key|access[_-]?token|refresh[_-]?token|cookie)",
    re.IGNORECASE,
)
_DATA_URL_RE = re.compile(r"data:([\w.+-]+/[\w.+-]+)?(?:;[\w=.-]+)*;base64,", re.ASCII)


def _digest(data: str | bytes) -> str:
    raw = data.encode("ascii", "ignore") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]


def _describe_base64(payload: str, media_type: str | None) -> str:
    size = len(payload.replace("\n", "").replace("\r", "")) * 3 // 4
    kind = media_type or "base64"
    return f"[{kind}: {size} bytes, sha256:{_digest(payload)}]"


def _string(value: str, limit: int) -> str:
    if len(value) >= _BASE64_MIN:
        match = _DATA_URL_RE.match(value)
        if match:
            return _describe_base64(value[match.end() :], match.group(1))
        if _BASE64_RE.fullmatch(value):  # 512+ chars of base64 alphabet, no spaces: binary data
            return _describe_base64(value, None)
    if len(value) > limit:
        return f"{value[:limit]}…[peekr: truncated {len(value) - limit} of {len(value)} chars]"
    return value


#: Key name -> does it name a secret (bounded: cleared when full; keys are a small vocabulary).
_secret_keys: dict[str, bool] = {}
_SECRET_CACHE_MAX = 4_096


#: The names in ``_secret_keys`` that are not secrets, as a set: ``_safe_keys.issuperset(a_dict)`` is one
#: C-level check that none of a dict's keys needs scrubbing (the common message dict's fast path).
_safe_keys: set[str] = set()


def _is_secret_key(name: str) -> bool:
    secret = _secret_keys.get(name)
    if secret is None:
        if len(_secret_keys) >= _SECRET_CACHE_MAX:
            _secret_keys.clear()
            _safe_keys.clear()
        secret = _secret_keys[name] = _SECRET_KEY_RE.search(name) is not None
        if not secret and type(name) is str:
            _safe_keys.add(name)
    return secret


def to_jsonable(value: Any, limit: int = 20_000, _depth: int = 0) -> Any:
    """A bounded, JSON-safe copy of ``value`` (see the module docstring)."""
    # Exact-type checks first: the common message shapes (dicts of short strings) never reach the
    # ABC checks (``isinstance(value, Mapping)`` costs several times an exact type test).
    kind = type(value)
    if kind is str:
        return value if len(value) < _BASE64_MIN and len(value) <= limit else _string(value, limit)
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if kind is dict or kind is list:
        if _depth >= _MAX_DEPTH:
            return "[peekr: nested too deep]"
        return _mapping(value, limit, _depth) if kind is dict else _sequence(value, limit, _depth)
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return _string(value, limit)
    if _depth >= _MAX_DEPTH:
        return "[peekr: nested too deep]"
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return f"[bytes: {len(raw)} bytes, sha256:{_digest(raw)}]"
    if isinstance(value, Mapping):
        return _mapping(value, limit, _depth)
    if isinstance(value, (list, tuple, set, frozenset)):
        return _sequence(value, limit, _depth)
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic models: SDK request/response objects
        try:
            # exclude_none, not exclude_unset: defaults such as a message's role="user" matter.
            return to_jsonable(dump(mode="json", exclude_none=True), limit, _depth + 1)
        except Exception:
            pass
    if hasattr(value, "__dict__") and not isinstance(value, type):
        public = {k: v for k, v in vars(value).items() if not k.startswith("_")}
        if public:
            return to_jsonable(public, limit, _depth + 1)
    return _string(repr(value), limit)


def _mapping(value: Mapping[Any, Any], limit: int, depth: int) -> dict[str, Any]:
    short = limit + 1 if limit < _BASE64_MIN else _BASE64_MIN  # a str shorter than this is kept as it is
    if type(value) is dict and _safe_keys.issuperset(value) and len(value) <= _MAX_ITEMS:
        # Known non-secret keys (so all of them ``str``): a copy if every value is a short str too.
        for item in value.values():
            if type(item) is not str or len(item) >= short:
                break
        else:
            return dict(value)
    out: dict[str, Any] = {}
    count = 0
    for key, item in value.items():
        if count >= _MAX_ITEMS:
            out["…"] = f"[peekr: {len(value) - _MAX_ITEMS} more keys]"
            break
        count += 1
        name = key if type(key) is str else str(key)
        secret = _secret_keys.get(name)
        if secret is None:
            secret = _is_secret_key(name)
        if secret and item is not None:
            out[name] = "[scrubbed]"
        elif type(item) is str and len(item) < short:
            out[name] = item
        else:
            out[name] = to_jsonable(item, limit, depth + 1)
    return out


def _sequence(value: Any, limit: int, depth: int) -> list[Any]:
    items = value if type(value) is list else list(value)
    depth += 1
    # A dict item goes straight to ``_mapping`` (what ``to_jsonable`` would do, one call fewer per message).
    result = [
        _mapping(item, limit, depth) if type(item) is dict and depth < _MAX_DEPTH else to_jsonable(item, limit, depth)
        for item in (items if len(items) <= _MAX_ITEMS else items[:_MAX_ITEMS])
    ]
    if len(items) > _MAX_ITEMS:
        result.append(f"[peekr: {len(items) - _MAX_ITEMS} more items]")
    return result


def capture(value: Any) -> Any:
    """``to_jsonable(value)`` under the running configuration; None if content capture is off."""
    runtime = get_runtime()
    if runtime is None or not runtime.settings.capture_content:
        return None
    return to_jsonable(value, runtime.settings.max_field_chars)
