"""The live console: one line per finished root span (or every span) on stderr, as a bus subscriber.

``peekr.instrument(console=True)`` (or ``PEEKR_CONSOLE=1``) adds a ``"console"`` subscriber. It runs
on the bus thread like every sink, so the caller's ``span.end()`` costs what it did without it; lines
are written through a worker thread, so a stalled terminal stalls only this subscriber. A token
bucket limits the lines (``rate`` per second, bursts of ``burst``); the spans it holds back are
printed as one ``… N more spans`` line once lines flow again (or at flush / shutdown) and counted as
``stats().dropped[("console", "rate_limited")]``. Lines printed are ``stats().delivered["console"]``.
Evaluation results for a span that was printed arrive later as a second, indented line.
No input or output is printed: only names, model, tokens, cost, duration, status and scores.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING, Literal

from rich.console import Console
from rich.text import Text

from ._events import EvalResult, Event
from ._span import Span
from ._threads import run_sync

if TYPE_CHECKING:
    from .bus._handle import BusHandle

__all__ = ["ENV_CONSOLE", "ConsoleMode", "ConsoleSink", "console_mode"]

ENV_CONSOLE = "PEEKR_CONSOLE"
ConsoleMode = Literal["roots", "all"]
#: Printed spans whose eval results may still get a line (the oldest are forgotten first).
_REMEMBERED = 10_000


def console_mode(value: object, *, where: str = "instrument(console=...)") -> ConsoleMode | None:
    """``"roots"``, ``"all"`` or None (off) for a ``console=`` argument or ``PEEKR_CONSOLE`` value.

    Raises:
        ValueError: a value that is none of True/False/None, "roots", "all", 1/0/true/false/on/off.
    """
    if value is None or value is False:
        return None
    if value is True:
        return "roots"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("roots", "all"):
            return text  # type: ignore[return-value]
        if text in ("1", "true", "yes", "on"):
            return "roots"
        if text in ("", "0", "false", "no", "off"):
            return None
    raise ValueError(f"{where}: expected True, False, 'roots' or 'all', got {value!r}")


class _Bucket:
    """A token bucket: ``rate`` tokens a second, holding at most ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Totals:
    """Model calls, tokens, cost and models of a trace's child spans."""

    __slots__ = ("calls", "cost", "models", "tokens")

    def __init__(self) -> None:
        self.calls = 0
        self.tokens = 0
        self.cost: float | None = None
        self.models: list[str] = []

    def add(self, tokens: object, cost: object, model: object) -> None:
        self.calls += 1
        if isinstance(tokens, int) and not isinstance(tokens, bool):
            self.tokens += tokens
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            self.cost = (self.cost or 0.0) + float(cost)
        if isinstance(model, str) and model and model not in self.models and len(self.models) < 3:
            self.models.append(model)


class ConsoleSink:
    """Prints finished spans to stderr (see the module docstring).

    Args:
        mode: ``"roots"`` (spans without a parent) or ``"all"``.
        rate: Lines a second, sustained.
        burst: Lines allowed at once before the rate applies.
        file: Where to print (default: ``sys.stderr`` at the time of each write).
    """

    name = "console"
    counts_own_delivery = True

    def __init__(
        self, mode: ConsoleMode = "roots", *, rate: float = 10.0, burst: int = 30, file: IO[str] | None = None
    ) -> None:
        if mode not in ("roots", "all"):
            raise ValueError(f"ConsoleSink(mode=...) must be 'roots' or 'all', got {mode!r}")
        if rate <= 0 or burst < 1:
            raise ValueError("ConsoleSink: rate must be positive and burst at least 1")
        self.mode = mode
        self._bucket = _Bucket(rate, burst)
        self._file = file
        self._handle: BusHandle | None = None
        self._suppressed = 0
        self._shown: OrderedDict[str, str] = OrderedDict()  # span_id -> name, for eval lines
        self._totals: OrderedDict[str, _Totals] = OrderedDict()  # trace_id -> what its child spans used

    def bind(self, handle: BusHandle) -> None:
        """Keep the bus handle: suppressed lines are counted on it."""
        self._handle = handle

    async def write(self, batch: Sequence[Event]) -> None:
        """Print a line per finished span the mode selects, within the rate."""
        lines: list[Text] = []
        shown = 0
        for event in batch:
            if isinstance(event, Span):
                if self.mode == "roots" and event.parent_id is not None:
                    self._add_to_trace(event)
                    continue
                children = self._totals.pop(event.trace_id, None) if event.parent_id is None else None
                if not self._bucket.take():
                    self._suppressed += 1
                    continue
                self._note_suppressed(lines)
                lines.append(span_line(event, children))
                shown += 1
                self._shown[event.span_id] = event.name
                if len(self._shown) > _REMEMBERED:
                    self._shown.popitem(last=False)
            elif isinstance(event, EvalResult) and event.span_id in self._shown:
                line = eval_line(event, self._shown[event.span_id])
                if line is not None and self._bucket.take():
                    lines.append(line)
        if lines:
            await run_sync(self._print, lines)
        if shown and self._handle is not None:
            self._handle.record_delivered(self.name, shown)

    def _add_to_trace(self, span: Span) -> None:
        """Sum a child span's model calls into its trace, for the root's line (roots mode)."""
        attrs = span.attributes if isinstance(span.attributes, dict) else {}
        tokens, cost, model = attrs.get("tokens_total"), attrs.get("cost_usd"), attrs.get("model")
        if not isinstance(tokens, int) and not isinstance(cost, (int, float)):
            return
        totals = self._totals.get(span.trace_id)
        if totals is None:
            totals = self._totals[span.trace_id] = _Totals()
            if len(self._totals) > _REMEMBERED:
                self._totals.popitem(last=False)
        totals.add(tokens, cost, model)

    def _note_suppressed(self, lines: list[Text]) -> None:
        if self._suppressed:
            lines.append(Text(f"… {self._suppressed} more spans", style="dim"))
            if self._handle is not None:
                self._handle.record_dropped(self.name, "rate_limited", self._suppressed)
            self._suppressed = 0

    async def flush(self, timeout: float | None = None) -> None:
        """Print the ``… N more spans`` line for what the rate held back."""
        lines: list[Text] = []
        self._note_suppressed(lines)
        if lines:
            await run_sync(self._print, lines)

    async def aclose(self) -> None:
        """Same as ``flush``."""
        await self.flush()

    def _print(self, lines: list[Text]) -> None:
        file = self._file or sys.stderr
        console = Console(file=file, highlight=False, soft_wrap=True)
        for line in lines:
            console.print(line)
        file.flush()


def _clock(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return iso[11:19]


def _duration(ms: float) -> str:
    return f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.2f}s"


def _scores(scores: object) -> str:
    if not isinstance(scores, dict):
        return ""
    parts = [f"{k}={v:.2f}" for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return " ".join(parts)


def _cost(cost: float) -> str:
    return f"${cost:.6f}" if cost < 0.001 else f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"


def span_line(span: Span, children: _Totals | None = None) -> Text:
    """``HH:MM:SS ✓ name  model  tokens  $cost  duration  [scores]  [error]`` for one span.

    ``children``: what the trace's child spans used, summed into a root's line (roots mode).
    """
    attrs = span.attributes if isinstance(span.attributes, dict) else {}
    ok = span.status == "ok"
    line = Text(f"{_clock(span.start_time)} ", style="dim")
    line.append("✓ " if ok else "✗ ", style="green" if ok else "bold red")
    line.append(span.name, style="bold")
    totals = children or _Totals()
    if isinstance(attrs.get("tokens_total"), int) or isinstance(attrs.get("cost_usd"), (int, float)):
        totals.add(attrs.get("tokens_total"), attrs.get("cost_usd"), attrs.get("model"))
    elif isinstance(attrs.get("model"), str) and attrs["model"] not in totals.models:
        totals.models.insert(0, attrs["model"])
    if totals.models:
        line.append(f"  {', '.join(totals.models)}", style="cyan")
    if totals.calls:
        line.append(f"  {totals.tokens:,} tok")
    if totals.cost is not None:
        line.append(f"  {_cost(totals.cost)}", style="yellow")
    if children is not None and children.calls > 1:
        line.append(f"  {children.calls} calls")
    line.append(f"  {_duration(float(span.duration_ms))}")
    scores = _scores(attrs.get("eval_scores"))
    if scores:
        line.append(f"  {scores}", style="magenta")
    error = attrs.get("error")
    if not ok and isinstance(error, dict):
        kind = str(error.get("type") or "error").rsplit(".", 1)[-1]
        message = str(error.get("message") or "")
        line.append(f"  {kind}: {message[:120]}", style="red")
    line.append(f"  {span.trace_id[:8]}", style="dim")
    return line


def eval_line(result: EvalResult, name: str) -> Text | None:
    """``  ↳ evaluator: score=0.25 (name)`` for an evaluation that finished after its span was printed."""
    if result.status != "ok":
        return Text(f"  ↳ {result.evaluator}: failed ({(result.error or '')[:80]})  ({name})", style="dim red")
    scores = _scores(result.scores)
    if not scores:
        return None
    return Text(f"  ↳ {result.evaluator}: {scores}  ({name})", style="magenta")
