"""Where the money goes: LLM calls, tokens and cost grouped by model, tenant, user, ... (``peekr cost``).

An LLM call is a span with a ``model``, ``cost_usd`` or ``tokens_total`` attribute. A call that
used tokens but has no ``cost_usd`` (a model peekr has no price for) is *unpriced*: it is counted
in ``unpriced_calls`` and its tokens are summed, but it adds nothing to ``cost_usd`` and is never
counted as $0. A call that reported no tokens and no cost (a request that failed before the
provider answered) has nothing to price: it counts as a call, in neither ``priced_calls`` nor
``unpriced_calls``.
Costs are summed with :func:`math.fsum`, so a total equals the exact sum of the span costs
(correctly rounded), whatever the order or the storage.

Example:
    >>> report = cost_report("traces.db", by=["model"], since="2026-11-01T00:00:00Z", top=10)
    >>> report.total.cost_usd, [g.key for g in report.groups]
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._readers import SpanDict, SpanFilter, SQLiteTraces, TraceFileError, open_traces

__all__ = ["DIMENSIONS", "CostGroup", "CostReport", "cost_report"]

#: ``--by`` name -> how to read it from a span.
DIMENSIONS: dict[str, Callable[[SpanDict], object]] = {
    "model": lambda s: s["attributes"].get("model"),
    "tenant": lambda s: s.get("tenant_id"),
    "user": lambda s: s["attributes"].get("user_id"),
    "feature": lambda s: s["attributes"].get("feature"),
    "endpoint": lambda s: s["attributes"].get("endpoint"),
    "day": lambda s: str(s.get("start_time") or "")[:10] or None,
}
_SQL = {
    "model": "json_extract(attributes, '$.model')",
    "tenant": "tenant_id",
    "user": "json_extract(attributes, '$.user_id')",
    "feature": "json_extract(attributes, '$.feature')",
    "endpoint": "json_extract(attributes, '$.endpoint')",
    "day": "substr(start_time, 1, 10)",
}
_CHUNK = 50_000


@dataclass
class CostGroup:
    """Totals of one group (``key`` holds one value per ``--by`` dimension; ``None`` = not set)."""

    key: list[str | None]
    calls: int = 0
    priced_calls: int = 0
    unpriced_calls: int = 0
    tokens_input: int = 0
    tokens_output: int = 0
    tokens_total: int = 0
    cost_usd: float = 0.0
    _costs: list[float] = field(default_factory=list, repr=False)

    def _add(self, cost: object, tin: object, tout: object, ttotal: object) -> None:
        self.calls += 1
        tin_i = tin if isinstance(tin, int) and not isinstance(tin, bool) else 0
        tout_i = tout if isinstance(tout, int) and not isinstance(tout, bool) else 0
        total = ttotal if isinstance(ttotal, int) and not isinstance(ttotal, bool) else tin_i + tout_i
        self.tokens_input += tin_i
        self.tokens_output += tout_i
        self.tokens_total += total
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost):
            self.priced_calls += 1
            self._costs.append(float(cost))
        elif total > 0:
            self.unpriced_calls += 1

    def _finish(self) -> None:
        self.cost_usd = math.fsum(self._costs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data = asdict(self)
        data.pop("_costs")
        return data


@dataclass
class CostReport:
    """The result of :func:`cost_report`; ``to_dict()`` is what ``--json`` prints."""

    by: list[str]
    since: str | None
    until: str | None
    total: CostGroup
    groups: list[CostGroup]
    #: The groups left out by ``top`` (their sum is in ``rest``); 0 when none.
    other_groups: int = 0
    rest: CostGroup | None = None
    spans_read: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "by": self.by,
            "since": self.since,
            "until": self.until,
            "total": self.total.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "other_groups": self.other_groups,
            "rest": self.rest.to_dict() if self.rest else None,
            "spans_read": self.spans_read,
        }

    def to_json(self) -> str:
        """The ``--json`` output."""
        return json.dumps(self.to_dict(), indent=2)


_Row = tuple[tuple[str | None, ...], object, object, object, object]


def _key_value(value: object) -> str | None:
    return None if value is None else str(value)


def _sqlite_rows(
    store: SQLiteTraces, by: Sequence[str], since: str | None, until: str | None, progress: Callable[[float], None]
) -> Any:
    where = [
        "(json_extract(attributes, '$.model') IS NOT NULL OR json_extract(attributes, '$.cost_usd') IS NOT NULL "
        "OR json_extract(attributes, '$.tokens_total') IS NOT NULL)"
    ]
    params: list[Any] = []
    if since is not None:
        where.append("start_time >= ?")
        params.append(since)
    if until is not None:
        where.append("start_time < ?")
        params.append(until)
    cols = [_SQL[d] for d in by] + [
        "json_extract(attributes, '$.cost_usd')",
        "json_extract(attributes, '$.tokens_input')",
        "json_extract(attributes, '$.tokens_output')",
        "json_extract(attributes, '$.tokens_total')",
    ]
    lo, hi = store.db.execute("SELECT MIN(rowid), MAX(rowid) FROM spans").fetchone()
    if lo is None:
        return
    sql = f"SELECT {', '.join(cols)} FROM spans WHERE rowid BETWEEN ? AND ? AND {' AND '.join(where)}"
    for start in range(lo, hi + 1, _CHUNK):
        for row in store.db.execute(sql, [start, start + _CHUNK - 1, *params]):
            n = len(by)
            yield tuple(_key_value(v) for v in row[:n]), row[n], row[n + 1], row[n + 2], row[n + 3]
        progress(min(1.0, (start + _CHUNK - lo) / (hi - lo + 1)))


def _is_call(attrs: dict[str, Any]) -> bool:
    return any(attrs.get(k) is not None for k in ("model", "cost_usd", "tokens_total"))


def cost_report(
    path: str | Path,
    *,
    by: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    top: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> CostReport:
    """Sum LLM calls, tokens and cost in ``traces.db`` or ``traces.jsonl``, optionally grouped.

    Args:
        path: The traces file.
        by: Group by these, in order: ``model``, ``tenant``, ``user``, ``feature``, ``endpoint``, ``day`` (UTC).
        since: Only calls started at or after this ISO-8601 UTC time.
        until: Only calls started before this ISO-8601 UTC time.
        top: Keep the ``top`` most expensive groups; the rest are summed into ``rest``.
        progress: Called with the fraction read so far (0..1).

    Returns:
        A :class:`CostReport`; groups sorted by cost (unpriced-only groups last, by calls).

    Raises:
        ValueError: an unknown ``by`` dimension, a dimension given twice, or ``top`` < 1.
        TraceFileError: The file is missing, empty, corrupt or not a peekr file.
    """
    by = list(by)
    for d in by:
        if d not in DIMENSIONS:
            raise ValueError(f"cannot group by {d!r}; expected one of: {', '.join(DIMENSIONS)}")
    if len(set(by)) != len(by):
        raise ValueError(f"a --by dimension is given twice: {', '.join(by)}")
    if top is not None and top < 1:
        raise ValueError(f"--top must be at least 1, got {top}")
    report = progress or (lambda _done: None)
    groups: dict[tuple[str | None, ...], CostGroup] = {}
    total = CostGroup(key=[])
    spans_read = 0
    with open_traces(path, progress=report) as store:
        if isinstance(store, SQLiteTraces):
            try:
                rows = list(_sqlite_rows(store, by, since, until, report))
            except sqlite3.DatabaseError as exc:
                raise TraceFileError(f"{path}: corrupt or unreadable database ({exc})") from None
        else:
            rows = []
            for s in store.query(SpanFilter(since=since), limit=None).spans:
                attrs = s.get("attributes") or {}
                if not _is_call(attrs) or (until is not None and str(s.get("start_time", "")) >= until):
                    continue
                key = tuple(_key_value(DIMENSIONS[d](s)) for d in by)
                rows.append(
                    (
                        key,
                        attrs.get("cost_usd"),
                        attrs.get("tokens_input"),
                        attrs.get("tokens_output"),
                        attrs.get("tokens_total"),
                    )
                )
        for key, cost, tin, tout, ttotal in rows:
            spans_read += 1
            group = groups.get(key)
            if group is None:
                group = groups[key] = CostGroup(key=list(key))
            group._add(cost, tin, tout, ttotal)
            total._add(cost, tin, tout, ttotal)
    report(1.0)
    for group in [total, *groups.values()]:
        group._finish()
    ordered = sorted(groups.values(), key=lambda g: (-g.cost_usd, -g.calls, [k or "" for k in g.key]))
    rest = None
    other = 0
    if top is not None and len(ordered) > top:
        left = ordered[top:]
        ordered = ordered[:top]
        other = len(left)
        rest = CostGroup(key=[None] * len(by))
        for g in left:
            rest.calls += g.calls
            rest.priced_calls += g.priced_calls
            rest.unpriced_calls += g.unpriced_calls
            rest.tokens_input += g.tokens_input
            rest.tokens_output += g.tokens_output
            rest.tokens_total += g.tokens_total
            rest._costs.extend(g._costs)
        rest._finish()
    return CostReport(by, since, until, total, ordered if by else [], other, rest, spans_read)
