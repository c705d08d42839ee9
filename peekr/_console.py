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
                    continue
                if not self._bucket.take():
                    self._suppressed += 1
                    continue
                self._note_suppressed(lines)
                lines.append(span_line(event))
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


def span_line(span: Span) -> Text:
    """``HH:MM:SS ✓ name  model  tokens  $cost  duration  [scores]  [error]`` for one span."""
    attrs = span.attributes if isinstance(span.attributes, dict) else {}
    ok = span.status == "ok"
    line = Text(f"{_clock(span.start_time)} ", style="dim")
    line.append("✓ " if ok else "✗ ", style="green" if ok else "bold red")
    line.append(span.name, style="bold")
    model = attrs.get("model")
    if isinstance(model, str) and model:
        line.append(f"  {model}", style="cyan")
    tokens = attrs.get("tokens_total")
    if isinstance(tokens, int) and not isinstance(tokens, bool):
        line.append(f"  {tokens:,} tok")
    cost = attrs.get("cost_usd")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        line.append(f"  ${cost:.5f}" if cost < 0.01 else f"  ${cost:.2f}", style="yellow")
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
