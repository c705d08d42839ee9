"""Spend budgets: cap USD spend per tenant, user or feature over a rolling window.

Spend is counted on the bus thread, by a processor of the pipeline (``BudgetLedger.observe``),
from the same ``cost_usd`` the spans carry, before any sampling, so every priced call counts.
The caller's thread pays one check per provider call (``BudgetLedger.check``): a read of a dict
that is empty while every budget has room, so a budget costs nothing until it is exceeded.

Each window is kept as 60 buckets per budget and key (the window / 60 wide, at least one second),
and at most ``MAX_KEYS`` keys per budget are tracked; spend of further keys is counted in
``BudgetLedger.untracked`` and logged once, never silently ignored.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from ._context import _session
from ._duration import parse_seconds
from ._errors import log_internal_error

__all__ = ["MAX_KEYS", "Budget", "BudgetExceededError", "BudgetLedger", "parse_window"]

logger = logging.getLogger("peekr")

#: Keys (tenants, users or features) tracked per budget; spend of further keys is counted, not capped.
MAX_KEYS = 10_000
_BUCKETS = 60
_PER = ("total", "tenant", "user", "feature")


def parse_window(window: float | str) -> float:
    """``"1h"`` / ``"30m"`` / ``"7d"`` / seconds as a number -> seconds.

    Raises:
        TypeError, ValueError: Not a positive duration.
    """
    return parse_seconds(window, "window")


@dataclass(frozen=True)
class Budget:
    """A cap on spend over a rolling window.

    Example:
        >>> peekr.instrument(budgets=[
        ...     peekr.Budget(limit_usd=50, window="1d", per="tenant", on_exceed="raise"),
        ...     peekr.Budget(limit_usd=5, window="1h", per="user"),          # warn once per window
        ... ])

    Args:
        limit_usd: The cap, in USD, for each key (each tenant, user or feature; or in total).
        window: The rolling window: seconds, or ``"30m"``, ``"1h"``, ``"1d"``, ``"1w"``.
        per: ``"total"`` (one cap for the process), ``"tenant"``, ``"user"`` (the session's
            ``user_id``) or ``"feature"``. Calls without that key are not counted against it.
        on_exceed: ``"warn"``: log once per window per key; ``"raise"``: the next provider call
            with that key raises ``peekr.BudgetExceededError`` before any request is sent.
        name: Shown in messages; default ``"<per> budget $<limit>/<window>"``.
    """

    limit_usd: float
    window: float | str = "1d"
    per: Literal["total", "tenant", "user", "feature"] = "total"
    on_exceed: Literal["warn", "raise"] = "warn"
    name: str | None = None
    window_seconds: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.limit_usd, bool) or not isinstance(self.limit_usd, (int, float)):
            raise TypeError(f"limit_usd must be a number of US dollars, got {self.limit_usd!r}")
        if not self.limit_usd > 0:
            raise ValueError(f"limit_usd must be positive, got {self.limit_usd!r}")
        if self.per not in _PER:
            raise ValueError(f"per={self.per!r}; expected one of {', '.join(_PER)}")
        if self.on_exceed not in ("warn", "raise"):
            raise ValueError(f"on_exceed={self.on_exceed!r}; expected 'warn' or 'raise'")
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {self.name!r}")
        object.__setattr__(self, "window_seconds", parse_window(self.window))

    @property
    def label(self) -> str:
        """The budget as people read it: its name, or ``tenant budget $50/1d``."""
        if self.name:
            return self.name
        window = self.window if isinstance(self.window, str) else f"{self.window_seconds:g}s"
        return f"{self.per} budget {_usd(self.limit_usd)}/{window}"


class BudgetExceededError(Exception):
    """Raised by a provider call, before its request is sent, while a ``raise`` budget is spent.

    Attributes:
        budget: The ``Budget`` that is spent.
        key: The tenant, user or feature it applies to (None for ``per="total"``).
        spent_usd: The spend in the window when the last priced call was counted.
        frees_at: Unix time (seconds) when, with no new spend, the window's spend drops under
            the limit and calls go through again.
    """

    def __init__(self, budget: Budget, key: str | None, spent_usd: float, frees_at: float) -> None:
        self.budget = budget
        self.key = key
        self.spent_usd = spent_usd
        self.frees_at = frees_at
        who = "" if key is None else f" for {budget.per} {key!r}"
        when = datetime.fromtimestamp(frees_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        wait = max(0.0, frees_at - time.time())
        super().__init__(
            f"{budget.label} exceeded{who}: {_usd(spent_usd)} spent of {_usd(budget.limit_usd)} in the last "
            f"{_duration(budget.window_seconds)}; calls go through again at {when} (in {_duration(wait)}). "
            "The request was not sent."
        )


def _usd(value: float) -> str:
    """``$50.00`` / ``$0.00007``: cents for real money, enough digits for test-sized caps."""
    if value >= 1:
        return f"${value:,.2f}"
    return "$" + (f"{value:.6f}".rstrip("0").rstrip(".") or "0")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


class _Window:
    """Spend of one key in one budget: ``_BUCKETS`` time buckets and their running sum."""

    __slots__ = ("buckets", "total", "warned_until")

    def __init__(self) -> None:
        self.buckets: deque[list[float]] = deque()  # [bucket start, usd]
        self.total = 0.0
        self.warned_until = 0.0

    def add(self, now: float, usd: float, width: float, window: float) -> None:
        start = now - now % width
        if self.buckets and self.buckets[-1][0] == start:
            self.buckets[-1][1] += usd
        elif self.buckets and self.buckets[-1][0] > start:  # an older moment (spend loaded at start-up)
            for bucket in self.buckets:
                if bucket[0] >= start:
                    bucket[1] += usd
                    break
        else:
            self.buckets.append([start, usd])
        self.total += usd
        self.expire(now, window)

    def expire(self, now: float, window: float) -> None:
        cutoff = now - window
        while self.buckets and self.buckets[0][0] + (window / _BUCKETS) <= cutoff:
            self.total -= self.buckets.popleft()[1]
        if not self.buckets:
            self.total = 0.0

    def frees_at(self, limit: float, window: float) -> float:
        """When, with no new spend, the total drops under ``limit``."""
        remaining = self.total
        width = window / _BUCKETS
        for start, usd in self.buckets:
            remaining -= usd
            if remaining < limit:
                return start + width + window
        return time.time()


class BudgetLedger:
    """Counts spend per budget and key on the bus thread; answers "may this call go?" on the caller's.

    Args:
        budgets: The budgets to enforce.
        default_tenant: The tenant of spans outside any ``peekr.session(tenant_id=...)``.
    """

    def __init__(self, budgets: Sequence[Budget], *, default_tenant: str | None = None) -> None:
        self.budgets = tuple(budgets)
        self.default_tenant = default_tenant
        self._windows: list[dict[str | None, _Window]] = [{} for _ in self.budgets]
        #: ``(budget index, key) -> (frees_at, spent)`` for every ``raise`` budget over its limit.
        #: Written on the bus thread, read on callers' threads (one dict lookup per call).
        self._blocked: dict[tuple[int, str | None], tuple[float, float]] = {}
        self._lock = threading.Lock()
        #: Spend (USD) of keys beyond ``MAX_KEYS`` per budget: counted here, not capped.
        self.untracked = 0.0
        self._untracked_logged = False

    # -- bus thread ----------------------------------------------------------------------------

    def observe(self, span: Any) -> None:
        """Pipeline processor: count a priced span's ``cost_usd`` against every budget."""
        attributes = span.attributes
        usd = attributes.get("cost_usd")
        if not usd:
            return
        self._count(time.time(), float(usd), span.tenant_id, attributes.get("user_id"), attributes.get("feature"))

    def _count(self, when: float, usd: float, tenant: Any, user: Any, feature: Any) -> None:
        now = time.time()
        keys = {"total": None, "tenant": tenant, "user": user, "feature": feature}
        with self._lock:
            for index, budget in enumerate(self.budgets):
                key = keys[budget.per]
                if budget.per != "total" and key is None:
                    continue
                key = None if key is None else str(key)
                windows = self._windows[index]
                window = windows.get(key)
                if window is None:
                    if len(windows) >= MAX_KEYS:
                        self._note_untracked(usd)
                        continue
                    window = windows[key] = _Window()
                width = max(1.0, budget.window_seconds / _BUCKETS)
                window.add(when, usd, width, budget.window_seconds)
                window.expire(now, budget.window_seconds)
                self._update(index, budget, key, window, now)

    def _update(self, index: int, budget: Budget, key: str | None, window: _Window, now: float) -> None:
        if window.total < budget.limit_usd:
            self._blocked.pop((index, key), None)
            return
        frees_at = window.frees_at(budget.limit_usd, budget.window_seconds)
        if budget.on_exceed == "raise":
            self._blocked[(index, key)] = (frees_at, window.total)
        if now >= window.warned_until:
            window.warned_until = now + budget.window_seconds
            who = "" if key is None else f" for {budget.per} {key!r}"
            action = "provider calls now raise peekr.BudgetExceededError" if budget.on_exceed == "raise" else "warn"
            logger.warning(
                "peekr: %s exceeded%s: %s spent of %s in the last %s (%s)",
                budget.label,
                who,
                _usd(window.total),
                _usd(budget.limit_usd),
                _duration(budget.window_seconds),
                action,
            )

    def _note_untracked(self, usd: float) -> None:
        self.untracked += usd
        if not self._untracked_logged:
            self._untracked_logged = True
            logger.warning("peekr: budgets track at most %d keys each; spend of further keys is not capped", MAX_KEYS)

    def load(self, rows: Iterable[tuple[float, float, Any, Any, Any]]) -> int:
        """Count earlier spend ``(unix time, usd, tenant, user, feature)`` (at start-up); returns rows."""
        count = 0
        for when, usd, tenant, user, feature in rows:
            self._count(when, usd, tenant, user, feature)
            count += 1
        return count

    # -- caller's thread -----------------------------------------------------------------------

    def check(self) -> None:
        """Raise ``BudgetExceededError`` if a ``raise`` budget for this call's keys is spent."""
        if not self._blocked:
            return
        try:
            error = self._violation()
        except Exception as exc:  # a budget bug must never break the call
            log_internal_error("budget.check", exc)
            return
        if error is not None:
            raise error

    def _violation(self) -> BudgetExceededError | None:
        session = _session.get()
        tenant = self.default_tenant
        user = feature = None
        if session is not None:
            if session.tenant_id is not None:
                tenant = session.tenant_id
            user = session.attributes.get("user_id")
            feature = session.attributes.get("feature")
        keys = {"total": None, "tenant": tenant, "user": user, "feature": feature}
        now = time.time()
        for (index, key), (frees_at, spent) in list(self._blocked.items()):
            budget = self.budgets[index]
            if budget.per != "total" and (keys[budget.per] is None or str(keys[budget.per]) != key):
                continue
            if now < frees_at:
                return BudgetExceededError(budget, key, spent, frees_at)
            with self._lock:  # the window moved on: let calls through again
                window = self._windows[index].get(key)
                if window is not None:
                    window.expire(now, budget.window_seconds)
                    self._update(index, budget, key, window, now)
                else:
                    self._blocked.pop((index, key), None)
            if (index, key) in self._blocked:
                frees_at, spent = self._blocked[(index, key)]
                return BudgetExceededError(budget, key, spent, frees_at)
        return None


def spend_from_sqlite(path: str | Path, since_seconds: float) -> list[tuple[float, float, Any, Any, Any]]:
    """Priced spend recorded in a traces.db in the last ``since_seconds`` (for a restart)."""
    path = Path(path)
    if not path.is_file():
        return []
    since = datetime.fromtimestamp(time.time() - since_seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        rows = db.execute(
            "SELECT end_time, json_extract(attributes, '$.cost_usd'), tenant_id, "
            "json_extract(attributes, '$.user_id'), json_extract(attributes, '$.feature') "
            "FROM spans WHERE start_time >= ? AND json_extract(attributes, '$.cost_usd') > 0",
            (since,),
        ).fetchall()
    except sqlite3.Error:  # no spans table yet, or not a traces.db: nothing to carry over
        return []
    finally:
        db.close()
    out = []
    for end_time, usd, tenant, user, feature in rows:
        try:
            when = datetime.fromisoformat(str(end_time).replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        out.append((when, float(usd), tenant, user, feature))
    return out
