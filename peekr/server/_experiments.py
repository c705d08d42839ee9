"""``/v1/experiments``: the experiments a tenant runs, and one experiment's variants compared.

The comparison is ``peekr compare``'s (``peekr.store._compare.compare_spans``) over the newest
``MAX_CALLS`` model calls of the experiment in the window; the answer says when it was cut there.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from ..store._compare import compare_spans
from ._errors import ApiError
from ._query import _time
from ._query import router as query_router
from ._state import require, state_of
from ._store import format_time, parse_time
from ._wire import ErrorBody

__all__ = ["MAX_CALLS", "router"]

router = APIRouter(tags=["query"], responses=dict(query_router.responses))

#: Model calls read per answer at most (the newest in the window).
MAX_CALLS = 50_000
_DEFAULT_DAYS = 30
Since = Query(None, description="ISO-8601 start, inclusive (default: 30 days before until).")
Until = Query(None, description="ISO-8601 end, exclusive (default: now).")


def _window(since: str | None, until: str | None) -> tuple[str, str]:
    end = _time("until", until) or format_time(datetime.now(timezone.utc))
    start = _time("since", since) or format_time(parse_time(end) - timedelta(days=_DEFAULT_DAYS))
    if start >= end:
        raise ApiError(400, "invalid_parameter", f"since={start} must be before until={end}")
    return start, end


@router.get("/v1/experiments", summary="Experiments in the window, with their variants' call counts")
async def list_experiments(request: Request, since: str | None = Since, until: str | None = Until) -> dict[str, Any]:
    """Every experiment with model calls in the window: ``{name, calls, variants: {variant: calls}}``."""
    principal = await require(request, "read")
    start, end = _window(since, until)
    spans = await state_of(request).store.experiment_spans(principal.tenant_id, start, end, MAX_CALLS)
    found: dict[str, dict[str, int]] = {}
    for span in spans:
        attributes = span["attributes"]
        variants = found.setdefault(str(attributes.get("experiment")), {})
        variant = str(attributes.get("experiment_variant"))
        variants[variant] = variants.get(variant, 0) + 1
    items = [{"name": n, "calls": sum(v.values()), "variants": v} for n, v in sorted(found.items())]
    return {"since": start, "until": end, "experiments": items, "truncated": len(spans) >= MAX_CALLS}


@router.get(
    "/v1/experiments/{name}",
    summary="One experiment's variants compared (as `peekr compare`)",
    responses={404: {"model": ErrorBody, "description": "The experiment has no model calls in the window."}},
)
async def compare_experiment(
    request: Request,
    name: str,
    since: str | None = Since,
    until: str | None = Until,
    control: str | None = Query(None, description="The variant the others are compared with (default: the first)."),
) -> dict[str, Any]:
    """Calls, cost per call, tokens, latency p50/p95, error rate and every eval score per variant,
    each variant tested against the control, with a verdict line."""
    principal = await require(request, "read")
    start, end = _window(since, until)
    spans = await state_of(request).store.experiment_spans(principal.tenant_id, start, end, MAX_CALLS, name)
    if not spans:
        raise ApiError(404, "not_found", f"no model calls of experiment {name!r} between {start} and {end}")
    try:
        result = await anyio.to_thread.run_sync(lambda: compare_spans(spans, name, control=control))
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from None
    return {
        **result.to_dict(),
        "since": start,
        "until": end,
        "calls_read": len(spans),
        "truncated": len(spans) >= MAX_CALLS,
    }
