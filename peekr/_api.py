"""The public functions: validate arguments strictly, then delegate to the runtime."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from . import _runtime
from ._config import (
    DEFAULT_PATHS,
    ENV_CAPTURE_CONTENT,
    ENV_MAX_FIELD_CHARS,
    ENV_PATH,
    ENV_STORAGE,
    ENV_TENANT_ID,
    STORAGES,
    Settings,
    Storage,
    env_bool,
    env_int,
    env_retention_class,
    env_str,
)
from ._retention import validate_retention_class
from ._sampling import validate_sampling
from ._scrub import Scrubber, validate_scrub
from ._span import RetentionClass, Span
from .bus import BusStats
from .sinks._base import Sink, sink_name

if TYPE_CHECKING:
    from ._budgets import Budget
    from ._guards import Guard
    from .alerts import Rule
    from .evaluators import Evaluator

__all__ = ["Instrumentation", "aflush", "flush", "instrument", "shutdown", "stats", "uninstrument"]

logger = logging.getLogger("peekr")


class Instrumentation:
    """What ``instrument()`` returns: a handle on the running peekr.

    Use it as a context manager to shut down at the end of a block::

        with peekr.instrument(storage="jsonl"):
            main()
    """

    def __init__(self, runtime: _runtime.Runtime, providers: list[str]) -> None:
        self._runtime = runtime
        self.providers = providers

    @property
    def settings(self) -> Settings:
        """The validated configuration."""
        return self._runtime.settings

    @property
    def sinks(self) -> list[Sink]:
        """The sinks spans are written to (the evaluator subscriber excluded)."""
        return [sink for _, sink in self._runtime.sinks]

    def flush(self, timeout: float = 5.0) -> bool:
        """See ``peekr.flush``."""
        return self._runtime.flush(timeout)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """See ``peekr.shutdown``."""
        return _shutdown_runtime(self._runtime, timeout)

    def stats(self) -> BusStats:
        """See ``peekr.stats``."""
        return self._runtime.stats()

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()


def _positive(value: Any) -> bool:
    return bool(value > 0)


def _check_positive(
    name: str, value: Any, kind: type | tuple[type, ...] = (int, float), where: str = "instrument"
) -> None:
    if isinstance(value, bool) or not isinstance(value, kind) or not _positive(value):
        raise ValueError(f"{where}({name}=...) must be a positive number, got {value!r}")


def _check_sink(obj: object, where: str) -> None:
    missing = [m for m in ("write", "flush", "aclose") if not callable(getattr(obj, m, None))]
    if missing:
        raise TypeError(
            f"instrument({where}=...) expects a sink with async write/flush/aclose methods; "
            f"{obj!r} lacks {', '.join(missing)}"
        )


def instrument(
    *,
    storage: Storage | None = None,
    path: str | os.PathLike[str] | None = None,
    sinks: Sequence[Sink] | None = None,
    exporter: Sink | None = None,
    evaluators: Sequence[Evaluator | Callable[[Span], Any]] | None = None,
    tenant_id: str | None = None,
    retention_class: RetentionClass | None = None,
    capture_content: bool | None = None,
    redact_pii: bool = True,
    providers: Sequence[str] | None = None,
    max_field_chars: int | None = None,
    queue_size: int = 20_000,
    batch_size: int = 512,
    flush_interval: float = 0.2,
    shutdown_timeout: float = 5.0,
    console: bool | Literal["roots", "all"] | None = None,
    budgets: Sequence[Budget] | None = None,
    alerts: Sequence[Rule] | None = None,
    sample_rate: float = 1.0,
    keep_errors: bool = True,
    sample_rates: Mapping[str, float] | None = None,
    scrub: bool | Scrubber = False,
    guards: Sequence[Guard] | None = None,
) -> Instrumentation:
    """Start recording: patch the installed provider SDKs and start the event bus.

    Idempotent: a second call returns the running handle (call ``shutdown()`` first to
    reconfigure). Works whether the SDKs were imported before or after it; only bound methods
    captured before it (``create = client.chat.completions.create``) stay unpatched.

    Example:
        >>> import peekr
        >>> peekr.instrument()                      # every LLM call -> traces.db
        >>> peekr.instrument(storage="jsonl", path="out/traces.jsonl", tenant_id="acme")

    Args:
        storage: ``"sqlite"`` (default, ``traces.db``), ``"jsonl"`` (``traces.jsonl``),
            ``"memory"`` or ``"none"`` (only ``sinks``/``exporter``). Env: ``PEEKR_STORAGE``.
        path: File for ``sqlite``/``jsonl`` storage. Env: ``PEEKR_PATH``.
        sinks: Extra sinks to write to.
        exporter: A sink that ships spans elsewhere, e.g. ``peekr.HTTPExporter(...)``.
        evaluators: Evaluators run on every LLM span, e.g. ``peekr.eval.Hallucination(...)``.
        tenant_id: Default tenant for every span. Env: ``PEEKR_TENANT_ID``.
        retention_class: ``default`` | ``short`` | ``long`` | ``pii``. Env: ``PEEKR_RETENTION_CLASS``.
        capture_content: Record inputs and outputs (default True). Env: ``PEEKR_CAPTURE_CONTENT``.
        redact_pii: Redact ``retention_class="pii"`` spans before they are published: every
            attribute but an allow-list of non-content fields (model, tokens, cost, timing...;
            see ``peekr._redact``) becomes ``"[redacted: retention_class=pii]"``.
        providers: Providers to patch (``openai``, ``anthropic``, ``bedrock``, ``gemini``); all
            installed ones when None. A named provider whose SDK is missing raises.
        max_field_chars: Cap for each captured string (default 20,000). Env: ``PEEKR_MAX_FIELD_CHARS``.
        queue_size: Events buffered before new ones are dropped (and counted).
        batch_size: Events per sink write.
        flush_interval: Seconds between bus wake-ups when traffic is light.
        shutdown_timeout: Seconds the exit-time flush may take.
        console: Print a line per finished root span (``True`` / ``"roots"``) or every span
            (``"all"``) to stderr, rate-limited, from the bus thread (docs/console.md).
            Env: ``PEEKR_CONSOLE``.
        budgets: Spend caps, e.g. ``[peekr.Budget(limit_usd=50, window="1d", per="tenant",
            on_exceed="raise")]`` (see docs/budgets.md). With SQLite storage, spend already
            recorded in the window counts, so a cap survives a restart.
        alerts: Alert rules from ``peekr.alerts`` (error rate, latency p95, cost, cost spike,
            token growth, low scores), judged on the bus thread and sent to logs, webhooks or
            Slack from their own thread (see docs/alerts.md).
        sample_rate: Fraction of traces to record, 0.0-1.0, decided per trace from its id
            (OpenTelemetry's ``TraceIdRatioBased`` rule): a trace is kept or dropped whole.
        keep_errors: Keep every trace that contains an error span, whatever its rate says.
        sample_rates: Rates per tenant or feature: ``{"tenant:acme": 1.0, "feature:search": 0.5}``;
            a tenant rule beats a feature rule, which beats ``sample_rate`` (docs/sampling.md).
        scrub: ``True`` or a ``peekr.Scrubber(...)``: replace emails, phone numbers, card numbers,
            IBANs, national ids, API keys, bearer tokens and private keys in every captured
            string before any sink sees it (docs/scrubbing.md).
        guards: ``peekr.Blocklist(...)`` guards checked on the request before it is sent and on
            the response (docs/scrubbing.md#guardrails).

    Returns:
        An ``Instrumentation`` handle (also a context manager).

    Raises:
        ValueError: a bad value (unknown storage, retention class, provider; non-positive sizes;
            a rate outside 0.0-1.0 or a ``sample_rates`` key not ``tenant:...``/``feature:...``).
        TypeError: a sink or exporter without ``write``/``flush``/``aclose``; ``scrub`` not a
            bool or ``Scrubber``; a guard that is not a ``peekr.Blocklist``.
        ModuleNotFoundError: a provider named in ``providers`` is not installed.
    """
    running = _runtime.get_runtime()
    if running is not None and running.handle is not None:
        logger.info("peekr.instrument() was already called; returning the running instance")
        from .integrations import integrations_enabled, setup_integrations

        if not integrations_enabled():  # uninstrument() was called meanwhile: patch again
            running.handle.providers = setup_integrations(running.settings.providers)
        return running.handle  # type: ignore[no-any-return]

    chosen: str = storage if storage is not None else (env_str(ENV_STORAGE) or "sqlite")
    if chosen not in STORAGES:
        raise ValueError(f"instrument(storage={chosen!r}): expected one of {', '.join(STORAGES)}")
    storage = chosen  # narrowed to Storage by the check above
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"instrument(path=...) expects a str or path, got {type(path).__name__}")
    if tenant_id is not None and not isinstance(tenant_id, str):
        raise TypeError(f"instrument(tenant_id=...) expects a str, got {type(tenant_id).__name__}")
    if retention_class is not None:
        validate_retention_class(retention_class)
    if capture_content is not None and not isinstance(capture_content, bool):
        raise TypeError(f"instrument(capture_content=...) expects a bool, got {capture_content!r}")
    if isinstance(providers, str):
        raise TypeError(f"instrument(providers=...) expects a list of names, got the string {providers!r}")
    _check_positive("queue_size", queue_size, int)
    _check_positive("batch_size", batch_size, int)
    _check_positive("flush_interval", flush_interval)
    _check_positive("shutdown_timeout", shutdown_timeout)
    if max_field_chars is not None:
        _check_positive("max_field_chars", max_field_chars, int)
    sampling = validate_sampling(sample_rate, keep_errors, sample_rates)
    scrubber = validate_scrub(scrub)
    from ._guards import validate_guards

    checked_guards = validate_guards(guards)
    for sink in sinks or ():
        _check_sink(sink, "sinks")
    if exporter is not None:
        _check_sink(exporter, "exporter")
    console_mode = _console_mode(console)
    budget_list = _check_budgets(budgets)
    rule_list = _check_alerts(alerts)

    resolved_path = os.fspath(path) if path is not None else env_str(ENV_PATH) or DEFAULT_PATHS.get(storage)
    settings = Settings(
        storage=storage,
        path=resolved_path,
        tenant_id=tenant_id,
        retention_class=retention_class,
        capture_content=capture_content if capture_content is not None else env_bool(ENV_CAPTURE_CONTENT, True),
        redact_pii=bool(redact_pii),
        max_field_chars=max_field_chars or env_int(ENV_MAX_FIELD_CHARS, 20_000),
        queue_size=queue_size,
        batch_size=batch_size,
        flush_interval=float(flush_interval),
        shutdown_timeout=float(shutdown_timeout),
        providers=tuple(providers) if providers is not None else None,
        sampling=sampling if sampling.active else None,
        scrub=scrubber,
        guards=checked_guards,
    )

    subscribers: list[tuple[str, Sink]] = []
    if storage == "sqlite":
        from .sinks.sqlite import SQLiteSink

        subscribers.append(("sqlite", SQLiteSink(resolved_path or "traces.db")))
    elif storage == "jsonl":
        from .sinks.jsonl import JSONLSink

        subscribers.append(("jsonl", JSONLSink(resolved_path or "traces.jsonl")))
    elif storage == "memory":
        from .sinks.memory import InMemorySink

        subscribers.append(("memory", InMemorySink()))
    if console_mode is not None:
        from ._console import ConsoleSink

        subscribers.append(("console", ConsoleSink(console_mode)))
    for sink in [*(sinks or ()), *([exporter] if exporter is not None else [])]:
        name = sink_name(sink)
        taken = {n for n, _ in subscribers}
        unique, i = name, 2
        while unique in taken:
            unique, i = f"{name}-{i}", i + 1
        subscribers.append((unique, sink))
    evaluator_sink = None
    if evaluators:
        from .evaluators import make_subscriber

        _, evaluator_sink = make_subscriber(list(evaluators))

    from .integrations import setup_integrations

    default_tenant = tenant_id if tenant_id is not None else env_str(ENV_TENANT_ID)
    ledger = None
    if budget_list:
        from ._budgets import BudgetLedger, spend_from_sqlite

        ledger = BudgetLedger(budget_list, default_tenant=default_tenant)
        if storage == "sqlite":  # spend recorded before a restart still counts
            longest = max(budget.window_seconds for budget in budget_list)
            ledger.load(sorted(spend_from_sqlite(resolved_path or "traces.db", longest)))
    runtime = _runtime.Runtime(
        settings,
        subscribers,
        tenant_id=default_tenant,
        retention_class=retention_class or env_retention_class() or "default",
        evaluators=evaluator_sink,
        budgets=ledger,
        alerts=_alert_engine(rule_list),
    )
    runtime.start()
    _runtime.install(runtime)
    _warm_up_prices()
    try:
        enabled = setup_integrations(settings.providers)
    except BaseException:
        _shutdown_runtime(runtime, 1.0)
        raise
    handle = Instrumentation(runtime, enabled)
    runtime.handle = handle
    return handle


def _console_mode(console: object) -> Literal["roots", "all"] | None:
    """The console mode from ``console=`` or, when it is None, ``PEEKR_CONSOLE`` (a bad value is ignored)."""
    from ._console import ENV_CONSOLE, console_mode

    if console is not None:
        return console_mode(console)
    try:
        return console_mode(env_str(ENV_CONSOLE), where=ENV_CONSOLE)
    except ValueError as exc:
        logger.warning("peekr: %s; ignoring it", exc)
        return None


def _check_budgets(budgets: Sequence[Budget] | None) -> list[Budget]:
    if budgets is None:
        return []
    from ._budgets import Budget

    if isinstance(budgets, Budget) or not isinstance(budgets, Sequence):
        raise TypeError(f"instrument(budgets=...) expects a list of peekr.Budget, got {budgets!r}")
    for budget in budgets:
        if not isinstance(budget, Budget):
            raise TypeError(f"instrument(budgets=...) expects peekr.Budget items, got {budget!r}")
    return list(budgets)


def _check_alerts(alerts: Sequence[Rule] | None) -> list[Rule]:
    if alerts is None:
        return []
    from .alerts import Rule

    if isinstance(alerts, Rule) or not isinstance(alerts, Sequence):
        raise TypeError(f"instrument(alerts=...) expects a list of peekr.alerts rules, got {alerts!r}")
    for rule in alerts:
        if not isinstance(rule, Rule) or type(rule) is Rule:
            raise TypeError(f"instrument(alerts=...) expects peekr.alerts rules (ErrorRate, Cost...), got {rule!r}")
    return list(alerts)


def _alert_engine(rules: list[Rule]) -> Any:
    if not rules:
        return None
    from .alerts._engine import AlertEngine

    return AlertEngine(rules)


def _warm_up_prices() -> None:
    """Load the price table in the background, so the bus thread never waits for it.

    ``httpx2`` (which the price table imports, and openai builds its clients with) is imported
    here first, on the caller's thread: an SDK that reads ``sys.modules["httpx2"]`` while another
    thread is still importing it sees a half-initialised module and fails to build a client.
    """
    import importlib
    import importlib.util
    import sys
    import threading

    from ._cost import warm_up

    if "httpx2" not in sys.modules and importlib.util.find_spec("openai") is not None:
        try:  # openai 2.x looks httpx2 up in sys.modules when it builds a client
            importlib.import_module("httpx2")
        except ImportError:  # not installed: the price table does without it
            pass
    threading.Thread(target=warm_up, name="peekr-prices", daemon=True).start()


def _shutdown_runtime(runtime: _runtime.Runtime, timeout: float) -> bool:
    from .integrations import teardown_integrations

    if _runtime.get_runtime() is runtime:
        teardown_integrations()
    return runtime.shutdown(timeout)


def uninstrument() -> int:
    """Restore the providers' original methods; returns how many were restored.

    Spans already recorded are kept; ``peekr.span()`` blocks still record until ``shutdown()``.
    """
    from .integrations import teardown_integrations

    return teardown_integrations()


def flush(timeout: float = 5.0) -> bool:
    """Write everything recorded so far to every sink; wait at most ``timeout`` seconds.

    Returns:
        True if every sink confirmed in time (also when peekr is not running).

    Raises:
        ValueError: ``timeout`` is not positive.
    """
    _check_positive("timeout", timeout, where="flush")
    runtime = _runtime.get_runtime()
    return True if runtime is None else runtime.flush(timeout)


async def aflush(timeout: float = 5.0) -> bool:
    """``flush`` for async code: waits without blocking the event loop."""
    _check_positive("timeout", timeout, where="aflush")
    runtime = _runtime.get_runtime()
    if runtime is None:
        return True
    import anyio.to_thread

    return await anyio.to_thread.run_sync(runtime.flush, timeout)


def shutdown(timeout: float = 5.0) -> bool:
    """Flush, close the sinks and restore the SDKs; idempotent.

    Bounded by ``timeout`` even if a sink hangs (what it could not write is counted in
    ``stats()``). Called automatically at interpreter exit.

    Returns:
        True if every sink finished in time.
    """
    _check_positive("timeout", timeout, where="shutdown")
    runtime = _runtime.get_runtime()
    return True if runtime is None else _shutdown_runtime(runtime, timeout)


def stats() -> BusStats:
    """Counters of the current (or last) runtime: published, delivered, dropped, errors.

    Example:
        >>> s = peekr.stats()
        >>> s.dropped.get(("sqlite", "queue_full"), 0)
    """
    runtime = _runtime.last_runtime()
    if runtime is None:
        from ._codec import unencodable_count
        from ._errors import internal_error_count

        return BusStats(
            state="unconfigured",
            published=0,
            queued=0,
            internal_errors=internal_error_count(),
            unencodable_values=unencodable_count(),
        )
    return runtime.stats()
