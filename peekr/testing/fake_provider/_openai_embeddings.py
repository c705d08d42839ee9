"""OpenAI embeddings: ``POST /v1/embeddings`` with float lists or base64 little-endian float32."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from ._behaviour import words
from ._settings import Call
from ._wire import FakeResponse, json_response

__all__ = ["DEFAULT_DIMENSIONS", "embedding_vector", "embeddings"]

DEFAULT_DIMENSIONS = 8
"""Vector length when the request gives no `dimensions`."""


def embedding_vector(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """A deterministic unit vector for `text`, already rounded to float32 so both encodings agree."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = [seed[i % len(seed)] / 127.5 - 1.0 + i * 1e-3 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in raw))))


def embeddings(call: Call) -> FakeResponse:
    """One vector per input; input tokens = words of each string input, or the length of each token list."""
    request, model, behaviour = call.request, call.model, call.behaviour
    body: dict[str, Any] = request.json or {}
    inputs = body.get("input")
    if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    dimensions = int(body.get("dimensions") or DEFAULT_DIMENSIONS)
    data, tokens = [], 0
    for index, item in enumerate(inputs or []):
        text = item if isinstance(item, str) else " ".join(map(str, item))
        tokens += words(text) if isinstance(item, str) else len(item)
        vector = embedding_vector(text, dimensions)
        encoded: Any = vector
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    usage = {"prompt_tokens": tokens, "total_tokens": tokens} if behaviour.usage else None
    return json_response(200, {"object": "list", "model": model, "data": data, "usage": usage})
