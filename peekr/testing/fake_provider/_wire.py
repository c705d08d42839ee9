"""Transport-neutral request/response records shared by the HTTP server and the httpx2 transports."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Body", "FakeRequest", "FakeResponse", "Pause", "fake_id", "json_response", "paced", "sse_data", "sse_event"]


@dataclass(frozen=True)
class Pause:
    """A body item meaning "wait this many seconds before the next chunk" (each transport sleeps its own way)."""

    seconds: float


Body = Iterable["bytes | Pause"]


@dataclass(frozen=True)
class FakeRequest:
    """One request as the fake saw it; also the entry type of `FakeProvider.requests`.

    `headers` has lower-cased names; `json` is the parsed body, or None when the body is not JSON.
    """

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    json: Any = None

    @classmethod
    def build(
        cls, method: str, path: str, query: Mapping[str, str], headers: Iterable[tuple[str, str]], body: bytes
    ) -> FakeRequest:
        """Build a request, lower-casing header names and parsing a JSON body when there is one."""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        return cls(method.upper(), path, dict(query), {k.lower(): v for k, v in headers}, body, parsed)


@dataclass
class FakeResponse:
    """What to send back: status, headers, a body of chunks (and pauses), and a delay before the headers."""

    status: int
    headers: list[tuple[str, str]]
    body: Body
    streaming: bool = False
    delay: float = 0.0

    def close(self) -> None:
        """Release the body (the provider counts the request as finished); safe to call twice."""
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


def json_response(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> FakeResponse:
    """A non-streaming JSON response."""
    data = json.dumps(payload).encode()
    return FakeResponse(status, [("content-type", "application/json"), *headers], [data])


def sse_data(payload: Any) -> bytes:
    """One `data:` server-sent event (OpenAI, Gemini)."""
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def sse_event(name: str, payload: Any) -> bytes:
    """One server-sent event with an `event:` line (Anthropic, OpenAI Responses)."""
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(payload).encode() + b"\n\n"


def paced(chunks: Iterable[bytes], pause: float) -> Iterator[bytes | Pause]:
    """Yield `chunks` with a `Pause(pause)` between consecutive ones (no pause when `pause` is 0)."""
    for i, chunk in enumerate(chunks):
        if i and pause:
            yield Pause(pause)
        yield chunk


def fake_id(request: FakeRequest) -> str:
    """A short id that is the same for the same request (deterministic, yet distinct per prompt).

    A JSON body is hashed in a canonical form (sorted keys, no spaces), so two SDKs that send the same
    request with other spacing or key order (Python's and Node's, in the JS parity test) get the same id.
    """
    body = request.body
    if request.json is not None:
        body = json.dumps(request.json, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha1(body, usedforsecurity=False).hexdigest()[:16]
