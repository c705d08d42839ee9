"""In-process httpx2 transports: the real SDK clients talk to the fake without sockets."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import httpx2

from ._wire import FakeRequest, FakeResponse, Pause

__all__ = ["AsyncFakeTransport", "FakeTransport"]

Dispatch = Callable[[FakeRequest], FakeResponse]


def _fake_request(request: httpx2.Request, body: bytes) -> FakeRequest:
    query = dict(request.url.params.multi_items())
    return FakeRequest.build(request.method, request.url.path, query, request.headers.multi_items(), body)


class FakeTransport(httpx2.BaseTransport):
    """Sync transport: pauses sleep the calling thread."""

    def __init__(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._dispatch(_fake_request(request, request.read()))
        if response.delay:
            time.sleep(response.delay)
        return httpx2.Response(response.status, headers=response.headers, stream=_SyncBody(response))


class AsyncFakeTransport(httpx2.AsyncBaseTransport):
    """Async transport: pauses use `anyio.sleep`, so it runs on asyncio and trio."""

    def __init__(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._dispatch(_fake_request(request, await request.aread()))
        if response.delay:
            await anyio.sleep(response.delay)
        return httpx2.Response(response.status, headers=response.headers, stream=_AsyncBody(response))


class _SyncBody(httpx2.SyncByteStream):
    def __init__(self, response: FakeResponse) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        for item in self._response.body:
            if isinstance(item, Pause):
                time.sleep(item.seconds)
            else:
                yield item

    def close(self) -> None:
        self._response.close()


class _AsyncBody(httpx2.AsyncByteStream):
    def __init__(self, response: FakeResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for item in self._response.body:
            if isinstance(item, Pause):
                await anyio.sleep(item.seconds)
            else:
                yield item

    async def aclose(self) -> None:
        self._response.close()
