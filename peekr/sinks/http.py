"""HTTPExporter: ship spans, evaluation results and feedback to a Peekr collector.

Speaks wire format v1 (docs/wire-format.md): ``POST {endpoint}/v1/ingest`` with
``Authorization: Bearer <api key>`` and a gzipped JSON body. Built from small wrappers
(STYLE rule 9), outermost first::

    HTTPExporter          chunks batches to max_batch_size; counts what was given up
    └── SpoolingSink      optional: keeps undeliverable batches on disk, replays them later
        └── SplittingSink 413 -> send the batch in halves
            └── RetryingSink  429/502/503/504/connection errors: backoff + jitter, Retry-After, deadline
                └── _IngestClient  one POST; 400/401/403/other 4xx logged once, counted, never retried
"""

from __future__ import annotations

import email.utils
import gzip
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import httpx

from .._codec import dumps, event_to_dict, event_to_json_safe
from .._context import suppress_instrumentation
from .._events import EvalResult, Event, Feedback
from .._span import Span
from .._threads import run_sync
from .._version import __version__
from ..bus import BusHandle
from ._base import Sink, WrapperSink
from ._http_errors import DropCounter, ExportGaveUp, PayloadTooLargeError, RetryableExportError
from ._retry import RetryingSink
from ._split import SplittingSink
from ._spool import SpoolingSink

__all__ = ["WIRE_VERSION", "HTTPExporter", "encode_batch", "parse_retry_after"]

#: Wire format version this exporter speaks (the collector's ``peekr.server.WIRE_VERSION``).
WIRE_VERSION = 1
_RETRYABLE = frozenset({429, 502, 503, 504})
_GZIP_MIN_BYTES = 1024
_ARRAYS = ("spans", "eval_results", "feedback")
_GZIP_IN_THREAD_BYTES = 256 * 1024


def encode_batch(batch: Sequence[Event]) -> bytes:
    """The JSON body for ``batch``: spans, eval results and feedback in their own arrays.

    A batch that fails to encode (a span holding a value JSON cannot hold) is encoded again
    event by event, with only the bad values of that span replaced (``_codec.repair_span``).
    """
    events: dict[str, list[Event]] = {key: [] for key in _ARRAYS}
    for event in batch:
        if isinstance(event, Span):
            events["spans"].append(event)
        elif isinstance(event, EvalResult):
            events["eval_results"].append(event)
        elif isinstance(event, Feedback):
            events["feedback"].append(event)
    try:
        return dumps({"version": WIRE_VERSION, **{key: [event_to_dict(e) for e in events[key]] for key in _ARRAYS}})
    except Exception:
        arrays = (b'"%s":[%s]' % (key.encode(), b",".join(map(event_to_json_safe, events[key]))) for key in _ARRAYS)
        return b'{"version":%d,%s}' % (WIRE_VERSION, b",".join(arrays))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class _IngestClient:
    """POST one batch; translate the answer into success, a counted drop, or an export signal."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        compress: bool,
        transport: httpx.AsyncBaseTransport | None,
        drops: DropCounter,
    ) -> None:
        self.url = url
        self.headers = dict(headers)
        self.timeout = timeout
        self.compress = compress
        self.transport = transport
        self.drops = drops
        self.accepted = 0
        self.requests = 0
        self._client: httpx.AsyncClient | None = None

    def _get_client(self) -> httpx.AsyncClient:
        # Created lazily inside the bus loop; one client per exporter, so connections are reused.
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self.transport,
                timeout=self.timeout,
                headers=self.headers,
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            )
        return self._client

    async def write(self, batch: Sequence[Event]) -> None:
        if not batch:
            return
        body = encode_batch(batch)
        headers = {"Content-Type": "application/json"}
        if self.compress and len(body) >= _GZIP_MIN_BYTES:
            if len(body) >= _GZIP_IN_THREAD_BYTES:
                body = await run_sync(gzip.compress, body, 5)
            else:
                body = gzip.compress(body, 5)
            headers["Content-Encoding"] = "gzip"
        client = self._get_client()
        self.requests += 1
        with suppress_instrumentation():
            try:
                response = await client.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                raise RetryableExportError(f"{type(exc).__name__}: {exc or 'connection failed'}") from exc
        status = response.status_code
        if 200 <= status < 300:
            self._accept(response, len(batch))
        elif status in _RETRYABLE:
            raise RetryableExportError(
                f"HTTP {status}",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                rate_limited=status == 429,
            )
        elif status == 413:
            raise PayloadTooLargeError(f"HTTP 413: {_message(response)}")
        else:
            self.drops.add(f"http_{status}", len(batch))
            hint = {
                400: "the collector does not understand this exporter's requests (wrong endpoint or version?)",
                401: "the API key is invalid or revoked",
                403: "the API key lacks the 'ingest' scope (read keys cannot send spans)",
                404: "nothing serves /v1/ingest there: is the endpoint a Peekr collector?",
            }.get(status, "the collector refused the batch")
            self.drops.log_once(
                f"http_{status}",
                logging.ERROR,
                "peekr: HTTP %d from %s: %s (%s). Spans sent there are dropped and not retried; "
                "see peekr.stats().dropped.",
                status,
                self.url,
                hint,
                _message(response),
            )

    def _accept(self, response: httpx.Response, sent: int) -> None:
        try:
            answer = response.json()
            accepted = int(answer["accepted"])
            rejected = answer.get("rejected") or []
        except (ValueError, KeyError, TypeError):
            # A 2xx that is not an ingest answer: a proxy or another service is at that URL.
            self.drops.add("bad_response", sent)
            self.drops.log_once(
                "bad_response",
                logging.ERROR,
                "peekr: %s answered HTTP %d but not like a Peekr collector; spans sent there are dropped. "
                "Is the endpoint right?",
                self.url,
                response.status_code,
            )
            return
        self.accepted += accepted
        self.drops.delivered(accepted)
        unanswered = sent - accepted - len(rejected)
        if unanswered > 0:  # neither stored nor rejected: counted, never silently lost
            self.drops.add("unacknowledged", unanswered)
        if rejected:
            self.drops.add("rejected", len(rejected))
            first = rejected[0] if isinstance(rejected[0], dict) else {}
            self.drops.log_once(
                "rejected",
                logging.WARNING,
                "peekr: the collector rejected %d invalid record(s), e.g. %s %s: %s",
                len(rejected),
                first.get("kind"),
                first.get("id"),
                first.get("error"),
            )

    async def flush(self, timeout: float | None = None) -> None:
        return None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


class HTTPExporter(WrapperSink):
    """Send spans, evaluation results and feedback to a Peekr collector (``peekr server``).

    Runs as a bus subscriber: it never blocks your code or the other sinks, its own HTTP calls
    are never traced, and everything it gives up on is counted by reason in
    ``peekr.stats().dropped`` (and in ``exporter.dropped``). ``peekr.stats().delivered`` counts
    what the collector acknowledged (stored or duplicate); spooled events are in
    ``peekr.stats().spooled`` until they are sent.

    Example:
        >>> peekr.instrument(
        ...     tenant_id="acme",
        ...     exporter=peekr.HTTPExporter(endpoint="https://peekr.example.com", api_key="pk_live_..."),
        ... )

    Args:
        endpoint: Collector base URL (``http://`` or ``https://``); ``/v1/ingest`` is appended.
        api_key: An ingest key from ``peekr server keys create --tenant <name>``. Env: none, on purpose.
        timeout: Seconds per HTTP request.
        max_batch_size: Most events per request (larger bus batches are split).
        retry_deadline: Seconds to keep retrying one batch (429/502/503/504, connection errors).
        compress: Gzip request bodies of 1 KiB and more.
        spool_dir: Directory for an on-disk spool of batches the collector could not take; off if None.
        spool_max_bytes: Spool size bound; the oldest batches are dropped (``spool_full``) beyond it.
        headers: Extra request headers (e.g. for a proxy).
        transport: An ``httpx.AsyncBaseTransport`` to use instead of the network (tests).
        name: Name under which drops appear in ``peekr.stats()``.

    Raises:
        ValueError: an argument of the wrong shape (the message names it).
    """

    #: The bus must not count a written batch as delivered: this sink counts what the collector took.
    counts_own_delivery = True

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_batch_size: int = 500,
        retry_deadline: float = 30.0,
        compress: bool = True,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = 64 * 1024 * 1024,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        name: str = "http",
    ) -> None:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint={endpoint!r} must be an http:// or https:// URL of a Peekr collector")
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string (create one with `peekr server keys create`)")
        for arg, value in (("timeout", timeout), ("retry_deadline", retry_deadline)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{arg}={value!r} must be a positive number of seconds")
        for arg, value in (("max_batch_size", max_batch_size), ("spool_max_bytes", spool_max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg}={value!r} must be a positive integer")
        self.name = name
        self.endpoint = endpoint.rstrip("/")
        self.max_batch_size = max_batch_size
        #: Retry deadline while probing a collector known to be down (spool mode).
        self.probe_deadline = 2.0
        self.drops = DropCounter(name)
        self._client = _IngestClient(
            self.endpoint + "/v1/ingest",
            {
                "Authorization": f"Bearer {api_key.strip()}",
                "User-Agent": f"peekr-python/{__version__}",
                "Peekr-Wire-Version": str(WIRE_VERSION),
                **(headers or {}),
            },
            timeout=float(timeout),
            compress=compress,
            transport=transport,
            drops=self.drops,
        )
        self._retry = RetryingSink(self._client, deadline=float(retry_deadline))
        inner: Sink = SplittingSink(self._retry, self.drops)
        self._spool: SpoolingSink | None = None
        if spool_dir is not None:
            self._spool = SpoolingSink(
                inner,
                spool_dir,
                self.drops,
                max_bytes=spool_max_bytes,
                quick_probe=lambda: self._retry.deadline_override(self.probe_deadline),
            )
            inner = self._spool
        super().__init__(inner)

    def bind(self, handle: BusHandle) -> None:
        """Called by the bus: drops and deliveries are counted on that bus."""
        self.drops.bus = handle

    @property
    def dropped(self) -> dict[str, int]:
        """Events given up on, by reason (the same numbers as in ``peekr.stats().dropped``)."""
        return dict(self.drops.counts)

    @property
    def exported(self) -> int:
        """Records the collector confirmed as stored (including duplicates of a retried batch)."""
        return self._client.accepted

    @property
    def has_spool(self) -> bool:
        """True when built with ``spool_dir`` (its count shows in ``peekr.stats().spooled``)."""
        return self._spool is not None

    @property
    def spooled(self) -> int:
        """Events waiting in the on-disk spool."""
        return self._spool.spool.pending_events() if self._spool is not None else 0

    async def write(self, batch: Sequence[Event]) -> None:
        """Send ``batch`` in requests of at most ``max_batch_size`` events."""
        size = self.max_batch_size
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            try:
                await self.inner.write(chunk)
            except ExportGaveUp as exc:
                self.drops.add(exc.reason, len(exc.events))
                self.drops.log_once(
                    "gave_up",
                    logging.WARNING,
                    "peekr: could not reach the collector at %s (%s); %d events dropped. "
                    "Pass spool_dir= to keep them on disk during outages.",
                    self.endpoint,
                    exc,
                    len(exc.events),
                )

    async def flush(self, timeout: float | None = None) -> None:
        """Send what the spool holds, within ``timeout`` (writes themselves are synchronous)."""
        await self.inner.flush(timeout)

    def prepare_close(self) -> None:
        """Shutdown began (called by the bus): stop retrying, so what is left is spooled or counted
        at once instead of being cut off by the shutdown deadline."""
        self._retry.stop_retrying()

    async def aclose(self) -> None:
        """Stop retrying, give the spool a last short chance, close connections."""
        self._retry.closing = True
        await self.inner.aclose()

    def __repr__(self) -> str:
        return f"HTTPExporter(endpoint={self.endpoint!r}, spool={'on' if self._spool else 'off'})"
