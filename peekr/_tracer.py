"""Starting and ending spans: the one path every integration and manual span goes through.

``start_span`` is called on the user's thread for every LLM call, so it does the least work
it can: ids, clocks, a dict of attributes. ``ActiveSpan.end`` builds the ``Span`` without
validation and hands it to the bus (O(1)); JSON encoding, cost and storage happen later on the
bus thread.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import _errors as _faults
from ._clock import wall_ns
from ._context import SpanContextLike, _current_span, _session, _suppress_instrumentation
from ._errors import checkpoint, log_internal_error, raise_internal_errors
from ._runtime import Runtime, get_runtime
from ._sampling import DROP, HOLD, KEEP
from ._span import Span, build_span, iso_utc, new_span_id, new_trace_id

__all__ = [
    "ActiveSpan",
    "NonRecordingSpan",
    "ParentResolver",
    "SampledOutSpan",
    "add_parent_resolver",
    "begin_span",
    "error_info",
    "framework_parent",
    "start_span",
]


def _package(module: str) -> str:
    """The importable package a module belongs to: ``openai``, or ``google.genai`` for namespaces."""
    parts = module.split(".")
    top = sys.modules.get(parts[0])
    if len(parts) > 1 and top is not None and getattr(top, "__file__", None) is None:
        return ".".join(parts[:2])  # a namespace package (google, azure): name the real package
    return parts[0]


def error_info(exc: BaseException) -> dict[str, str]:
    """``{"type": "openai.BadRequestError", "message": "..."}`` for the ``error`` attribute."""
    cls = type(exc)
    module = cls.__module__
    qualname = cls.__qualname__ if module in ("builtins", "__main__") else f"{_package(module)}.{cls.__qualname__}"
    return {"type": qualname, "message": str(exc)[:2000]}


class ActiveSpan:
    """A span being recorded. ``attributes`` is a plain dict; ``end()`` is idempotent."""

    __slots__ = (
        "_duration_ns",
        "_live",
        "_runtime",
        "_start_perf",
        "attributes",
        "closes_trace",
        "name",
        "parent_id",
        "retention_class",
        "sampling",
        "span_id",
        "status",
        "tenant_id",
        "trace_id",
    )

    def __init__(
        self,
        runtime: Runtime,
        name: str,
        trace_id: str,
        parent_id: str | None,
        tenant_id: str | None,
        retention_class: str,
        attributes: dict[str, Any],
        sampling: int = KEEP,
    ) -> None:
        self._runtime = runtime
        self.name = name
        self.trace_id = trace_id
        self.span_id = new_span_id()
        self.parent_id = parent_id
        self.tenant_id = tenant_id
        self.retention_class = retention_class
        self.attributes = attributes
        self.status = "ok"
        self._live = True  # deleted by the first end()/discard(): see _close
        self._start_perf = time.perf_counter_ns()
        self._duration_ns = 0
        #: ``KEEP``, or ``HOLD`` (sampled out unless the trace holds an error; ``peekr._sampling``).
        self.sampling = sampling
        self.closes_trace = False
        if sampling == HOLD:
            runtime.sampler.opened(trace_id)  # type: ignore[union-attr]  # HOLD only with a sampler

    @property
    def is_recording(self) -> bool:
        """True until the span has ended."""
        return hasattr(self, "_live")

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute (a JSON-safe value)."""
        self.attributes[key] = value

    def set_attributes(self, values: dict[str, Any]) -> None:
        """Set several attributes."""
        self.attributes.update(values)

    def elapsed_ms(self) -> float:
        """Milliseconds since the span started."""
        return (time.perf_counter_ns() - self._start_perf) / 1e6

    def mark_first_token(self) -> None:
        """Record time-to-first-token (``ttft_ms``) once."""
        if "ttft_ms" not in self.attributes:
            self.attributes["ttft_ms"] = round(self.elapsed_ms(), 3)

    def record_error(self, exc: BaseException) -> None:
        """Mark the span failed with this exception (the exception itself is not touched)."""
        self.status = "error"
        self.attributes["error"] = error_info(exc)

    def _close(self) -> bool:
        """True for the first caller only, from any thread.

        Deleting a slot is one step under the GIL that fails once the slot is empty, so exactly one
        caller succeeds, with nothing allocated. A lock per span would do the same, but a lock is one
        more object for the garbage collector to count and track while the span waits for the bus's
        next tick, and those waiting objects drive the process's collections (``benchmarks/results/
        fastapi.md``).
        """
        try:
            del self._live
        except AttributeError:
            return False
        return True

    def end(self, error: BaseException | None = None) -> None:
        """Finish the span and publish it. Only the first call counts; never raises.

        The caller's thread only stops the clock and hands this object to the bus; building
        the ``Span`` record, redaction and cost happen in the bus's processor stage, on its thread.
        """
        try:  # _close, inlined: this runs for every span
            del self._live
        except AttributeError:
            return
        self._duration_ns = time.perf_counter_ns() - self._start_perf
        try:  # inline rather than handle_internal_errors(): this runs for every span
            if _faults._inject:
                checkpoint("span.end")
            if error is not None:
                self.record_error(error)
            if self.sampling == HOLD:
                self.closes_trace = self._runtime.sampler.closed(self.trace_id)  # type: ignore[union-attr]
            self._runtime.bus.publish(self)
        except Exception as exc:
            log_internal_error("span.end", exc)
            if raise_internal_errors():
                raise

    def discard(self) -> None:
        """Drop this span unrecorded (a framework's duplicate of a provider span); idempotent.

        A sampled-and-held trace stops counting it as open. If it was the trace's last open span,
        the trace is decided by the hold timeout (the spans that already ended did not close it).
        """
        if not self._close():
            return
        if self.sampling == HOLD:
            try:
                self._runtime.sampler.closed(self.trace_id)  # type: ignore[union-attr]
            except Exception as exc:  # pragma: no cover - a dict operation under a lock
                log_internal_error("span.discard", exc)

    def to_span(self) -> Span:
        """The finished ``Span`` record (called on the bus thread after ``end``)."""
        duration_ns = self._duration_ns
        start_ns = wall_ns(self._start_perf)
        return build_span(
            {
                "trace_id": self.trace_id,
                "span_id": self.span_id,
                "parent_id": self.parent_id,
                "name": self.name,
                "start_time": iso_utc(start_ns),
                "end_time": iso_utc(start_ns + duration_ns),
                "duration_ms": duration_ns / 1e6,
                "status": self.status,
                "tenant_id": self.tenant_id,
                "retention_class": self.retention_class,
                "attributes": self.attributes,
            }
        )

    @contextmanager
    def activate(self) -> Iterator[ActiveSpan]:
        """Make this the current span (new spans become its children) inside the block."""
        token = _current_span.set(self)
        try:
            yield self
        finally:
            _current_span.reset(token)


class NonRecordingSpan:
    """What ``peekr.span()`` yields when peekr is not running: same methods, records nothing."""

    trace_id = "0" * 32
    span_id = "0" * 16
    parent_id: str | None = None
    is_recording = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.attributes: dict[str, Any] = {}

    def set_attribute(self, key: str, value: Any) -> None:
        """Ignored."""

    def set_attributes(self, values: dict[str, Any]) -> None:
        """Ignored."""

    def mark_first_token(self) -> None:
        """Ignored."""

    def record_error(self, exc: BaseException) -> None:
        """Ignored."""

    def end(self, error: BaseException | None = None) -> None:
        """Ignored."""

    @contextmanager
    def activate(self) -> Iterator[NonRecordingSpan]:
        """No-op."""
        yield self


class SampledOutSpan(NonRecordingSpan):
    """A span of a trace the sampler dropped: records nothing, but parents its children.

    Made current by ``peekr.span()``, so the calls inside it stay in its (dropped) trace instead
    of starting traces of their own.
    """

    sampling = DROP

    def __init__(self, name: str, trace_id: str, parent_id: str | None) -> None:
        super().__init__(name)
        self.trace_id = trace_id
        self.span_id = new_span_id()
        self.parent_id = parent_id
        self._start_perf = time.perf_counter_ns()  # ordering against other open runs (frameworks)

    def child(self, runtime: Runtime, name: str = "") -> SampledOutSpan:
        """A span under this one: dropped too (counted as a sampled-out span)."""
        if runtime.sampler is not None:
            runtime.sampler.count_dropped(new_trace=False)
        return SampledOutSpan(name, self.trace_id, self.span_id)

    @contextmanager
    def activate(self) -> Iterator[NonRecordingSpan]:
        """Make this the current span inside the block (its children are dropped too)."""
        token = _current_span.set(self)
        try:
            yield self
        finally:
            _current_span.reset(token)


#: ``() -> the span of the innermost open framework run here (a sampled-out one too), or None``.
ParentResolver = Callable[[], "ActiveSpan | SampledOutSpan | None"]
#: One resolver per framework integration (LangChain, LlamaIndex, ...), registered once; empty
#: unless a framework integration is in use, so ``start_span`` pays one truthiness check.
_parent_resolvers: list[ParentResolver] = []


def add_parent_resolver(resolver: ParentResolver) -> None:
    """Register a framework's parent resolver once (see ``peekr/integrations/_framework.py``)."""
    if resolver not in _parent_resolvers:
        _parent_resolvers.append(resolver)


def _open(run: ActiveSpan | SampledOutSpan | None) -> bool:
    # A sampled-out run records nothing but is open while its framework holds it.
    return run is not None and (type(run) is SampledOutSpan or run.is_recording)


def framework_parent() -> ActiveSpan | SampledOutSpan | None:
    """The most recently started open framework run here, over every registered resolver."""
    found: ActiveSpan | SampledOutSpan | None = None
    for resolver in _parent_resolvers:
        try:
            run = resolver()
        except Exception as exc:  # a resolver must never break the caller's span
            log_internal_error("tracer.parent_resolver", exc)
            if raise_internal_errors():
                raise
            continue
        if _open(run) and (found is None or run._start_perf >= found._start_perf):  # type: ignore[union-attr]
            found = run
    return found


def framework_or(current: SpanContextLike | None) -> SpanContextLike | None:
    """The innermost open framework run when it started after ``current`` (or there is none), else ``current``."""
    if not _parent_resolvers:  # no framework integration in use (the common case)
        return current
    run = framework_parent()
    if run is None:
        return current
    if isinstance(current, ActiveSpan) and current.is_recording and current._start_perf > run._start_perf:
        return current
    return run


def start_span(
    name: str,
    attributes: dict[str, Any] | None = None,
    *,
    trace_id: str | None = None,
    parent_id: str | None = None,
    runtime: Runtime | None = None,
) -> ActiveSpan | None:
    """Start a span, or return None when peekr is not running, is suppressed here, or sampled it out.

    The parent is the current span unless ``trace_id``/``parent_id`` are given (a remote
    parent from a ``traceparent`` header). Session values and tenant/retention defaults are
    resolved now, with the precedence session > instrument() > environment. The span goes to
    ``runtime``, by default the process-default one (``peekr.instrument()``).
    """
    span = begin_span(name, attributes, trace_id=trace_id, parent_id=parent_id, runtime=runtime)
    return span if type(span) is ActiveSpan else None


def sample_ahead(runtime: Runtime) -> SampledOutSpan | str | None:
    """Before an integration does any work for a new span: is it sampled out already?

    A ``SampledOutSpan`` (count it as dropped; do nothing else), a new trace id to start the
    span with (its trace was decided to be recorded), or None (no sampler, or a parent decides).
    Lets the wrappers skip reading the request of a dropped call entirely.
    """
    sampler = runtime.sampler
    if sampler is None or _suppress_instrumentation.get():
        return None
    parent = _current_span.get()
    if parent is not None:
        if getattr(parent, "sampling", None) == DROP:
            sampler.count_dropped(new_trace=False)
            return SampledOutSpan("", parent.trace_id, parent.span_id)
        return None
    session = _session.get()
    tenant_id = runtime.tenant_id
    feature = None
    if session is not None:
        if session.tenant_id is not None:
            tenant_id = session.tenant_id
        feature = session.attributes.get("feature")
    trace_id = new_trace_id()
    if sampler.decide(trace_id, tenant_id, feature) == DROP:
        sampler.count_dropped(new_trace=True)
        return SampledOutSpan("", trace_id, None)
    return trace_id


def begin_span(
    name: str,
    attributes: dict[str, Any] | None = None,
    *,
    trace_id: str | None = None,
    parent_id: str | None = None,
    runtime: Runtime | None = None,
    adopt: bool = False,
) -> ActiveSpan | SampledOutSpan | None:
    """``start_span``, but a span the sampler dropped is a ``SampledOutSpan`` (to make current).

    ``adopt=True``: ``attributes`` is a fresh dict nobody else holds, which the span may keep as its
    own rather than copy (the provider wrappers' and ``peekr.span()``'s).

    The sampling outcome of a trace is fixed by its first span here: a child of a current span
    inherits it; a span given ``trace_id`` (a remote or framework parent) or starting a trace is
    decided from the trace id and the rate of its tenant / feature (``peekr._sampling``).
    """
    if runtime is None:
        runtime = get_runtime()
    if runtime is None or not runtime.running or _suppress_instrumentation.get():
        return None
    session = _session.get()
    tenant_id = runtime.tenant_id
    retention_class = runtime.retention_class
    if session is not None:
        attrs = dict(session.attributes)
        if session.tenant_id is not None:
            tenant_id = session.tenant_id
        if session.retention_class is not None:
            retention_class = session.retention_class
        if attributes:
            attrs.update(attributes)
    else:
        # A copy: the caller's dict is not the span's (unless it was built for this span).
        attrs = (attributes if adopt else dict(attributes)) if attributes else {}
    sampling = KEEP
    sampler = runtime.sampler
    inherited: int | None = None
    if trace_id is None:
        parent = _current_span.get()
        if _parent_resolvers:  # a framework integration is in use: an open run may be the parent
            parent = framework_or(parent)
        if parent is not None:
            trace_id, parent_id = parent.trace_id, parent.span_id
            inherited = getattr(parent, "sampling", None)
        else:
            trace_id = new_trace_id()
    if sampler is not None:
        sampling = inherited if inherited is not None else sampler.decide(trace_id, tenant_id, attrs.get("feature"))
        if sampling == DROP:
            sampler.count_dropped(new_trace=inherited is None)
            return SampledOutSpan(name, trace_id, parent_id)
    return ActiveSpan(runtime, name, trace_id, parent_id, tenant_id, retention_class, attrs, sampling)
