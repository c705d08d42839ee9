"""Helpers shared by the CLI commands: consoles, errors, option parsing and value formatting."""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .._clock import iso_utc

if TYPE_CHECKING:
    from ..store._readers import Traces

__all__ = [
    "console",
    "claim_line",
    "content_text",
    "counting_progress",
    "err_console",
    "fail",
    "fmt_cost",
    "fmt_duration",
    "fmt_scores",
    "fmt_time",
    "fmt_tokens",
    "opened",
    "parse_since",
    "plural",
    "warn",
    "working",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days|w|wk|weeks?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400}


def console() -> Console:
    """Return a stdout console: colours and widths only on a terminal (NO_COLOR respected)."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    width = int(os.environ.get("COLUMNS", "0") or 0) or 160
    return Console(highlight=False, no_color=True, color_system=None, width=width, soft_wrap=False)


def err_console() -> Console:
    """Return a stderr console for progress bars and warnings."""
    return Console(stderr=True, highlight=False)


def warn(message: str) -> None:
    """Print ``peekr: warning: message`` to stderr."""
    typer.echo(f"peekr: warning: {message}", err=True)


def fail(message: str, *, hint: str | None = None, code: int = 1) -> NoReturn:
    """Print ``peekr: error: message`` (and an optional hint) to stderr and exit with ``code``."""
    typer.echo(f"peekr: error: {message}", err=True)
    if hint:
        typer.echo(hint, err=True)
    raise typer.Exit(code)


@contextmanager
def opened(path: Path) -> Iterator[Traces]:
    """Open a traces file for a command; a bad file becomes a one-line error and exit 1.

    Loading a big JSONL file shows a progress bar on stderr when it is a terminal.
    """
    from ..store._readers import TraceFileError, open_traces  # not at import: keeps `peekr --help` fast

    errs = err_console()
    big = errs.is_terminal and path.is_file() and path.stat().st_size > 20_000_000
    try:
        if big:
            with Progress(
                TextColumn("reading {task.fields[name]}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                console=errs,
                transient=True,
            ) as bar:
                task = bar.add_task("read", total=1.0, name=path.name)
                store = open_traces(path, lambda done: bar.update(task, completed=done), warn=warn)
        else:
            store = open_traces(path, warn=warn)
    except TraceFileError as exc:
        fail(str(exc))
    try:
        yield store
    except TraceFileError as exc:
        fail(str(exc))
    finally:
        store.close()


@contextmanager
def working(what: str) -> Iterator[None]:
    """A spinner with the elapsed time on stderr while ``what`` runs; nothing when not a terminal."""
    errs = err_console()
    with Progress(
        SpinnerColumn(),
        TextColumn(what),
        TimeElapsedColumn(),
        console=errs,
        transient=True,
        disable=not errs.is_terminal,
    ) as bar:
        bar.add_task(what, total=None)
        yield


def parse_since(value: str | None, *, now_ns: int | None = None) -> str | None:
    """Turn ``2h`` / ``30m`` / ``7d`` / an ISO date into an ISO-8601 UTC lower bound.

    Raises:
        typer.BadParameter: The value is neither a duration nor an ISO date.
    """
    if value is None:
        return None
    match = _DURATION.match(value)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        seconds = 604800 if unit.startswith("w") else _UNIT_SECONDS.get(unit, 86400)
        now = time.time_ns() if now_ns is None else now_ns
        return iso_utc(now - int(amount * seconds * 1e9))
    from datetime import datetime, timezone

    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a duration like 30m, 2h, 7d or an ISO date like 2026-11-27"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return iso_utc(int(parsed.timestamp() * 1e9))


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 span`` / ``2 spans`` / ``1,000 spans`` (``words`` for irregular plurals)."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def fmt_tokens(attrs: dict[str, Any]) -> str:
    """``in→out`` token counts, or the total, or empty."""
    tin, tout = attrs.get("tokens_input"), attrs.get("tokens_output")
    if isinstance(tin, int) or isinstance(tout, int):
        return f"{tin if isinstance(tin, int) else '?'}→{tout if isinstance(tout, int) else '?'}"
    total = attrs.get("tokens_total")
    return str(total) if isinstance(total, int) else ""


def fmt_cost(value: object) -> str:
    """A USD amount with enough digits for tiny per-call costs; empty when unknown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if value == 0:
        return "$0"
    if value < 0.01:  # two significant digits, never scientific notation
        decimals = min(12, 1 - math.floor(math.log10(abs(value))))
        return f"${value:.{decimals}f}"
    return f"${value:,.4f}".rstrip("0").rstrip(".")


def fmt_duration(ms: object) -> str:
    """``812 ms`` / ``3.41 s`` / ``2m 05s``."""
    if not isinstance(ms, (int, float)):
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(int(ms / 1000), 60)
    return f"{minutes}m {seconds:02d}s"


def fmt_scores(attrs: dict[str, Any]) -> str:
    """``hallucination=0.83 relevance=1``."""
    scores = attrs.get("eval_scores")
    if not isinstance(scores, dict):
        return ""
    parts = []
    for key, value in sorted(scores.items()):
        parts.append(f"{key}={value:.2g}" if isinstance(value, (int, float)) else f"{key}=–")
    return " ".join(parts)


def fmt_time(iso: object) -> str:
    """``2026-11-27 09:21:10`` (UTC) from a stored ISO timestamp."""
    if not isinstance(iso, str):
        return ""
    return iso[:19].replace("T", " ")


def content_text(value: Any, limit: int | None) -> str:
    """Render a captured input/output value (messages, contents, text) as readable text.

    Messages become ``role: text`` lines; other structures are compact JSON. Text longer
    than ``limit`` characters is cut with a marker saying how much was left out. What each
    provider's captures look like comes from its ``messages`` module
    (``peekr.integrations._providers``).
    """
    if value is None:
        return ""
    text = _as_text(value)
    if limit is not None and len(text) > limit:
        return text[:limit] + f"… [+{len(text) - limit} chars; --full shows all]"
    return text


def _as_text(value: Any) -> str:
    from ..integrations._providers import keys  # not at import: keeps `peekr --help` fast

    turns = ("messages", *keys("turns"))
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and any(key in value for key in turns):
        lines = []
        system = next((value.get(key) for key in keys("system") if value.get(key)), None)
        if system:
            lines.append(f"system: {_block_text(system)}")
        contents = value[next(key for key in turns if key in value)] or []
        if isinstance(contents, list):
            lines.extend(_message_line(m) for m in contents)
        else:
            lines.append(_block_text(contents))
        return "\n".join(lines)
    if (
        isinstance(value, list)
        and value
        and all(isinstance(m, dict) and any(key in m for key in ("role", *keys("body"))) for m in value)
    ):
        return "\n".join(_message_line(m) for m in value)
    if isinstance(value, dict) and ("role" in value or "content" in value):
        return _message_line(value)
    if isinstance(value, list) and value and all(isinstance(b, dict) and ("type" in b or "text" in b) for b in value):
        return _block_text(value)
    return _json(value)


def _message_line(message: Any) -> str:
    from ..integrations._providers import keys

    if not isinstance(message, dict):
        return _block_text(message)
    role = message.get("role", "?")
    body = next((message[key] for key in ("content", *keys("body")) if key in message), None)
    text = _block_text(body) if body is not None else ""
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        text = " ".join(([text] if text else []) + [_tool_call(c) for c in calls])
    return f"{role}: {text}"


def _tool_call(call: Any) -> str:
    """A common-shape ``ToolCall`` as ``→ name(arguments)``."""
    fn = call.get("function") if isinstance(call, dict) else None
    if isinstance(fn, dict):
        return f"→ {fn.get('name')}({fn.get('arguments', '')})"
    return _json(call)


def _block_text(body: Any) -> str:
    from ..integrations._providers import keys

    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return " ".join(_one_block(block) for block in body)
    if isinstance(body, dict):
        for key in keys("body"):
            if key in body:
                return _block_text(body[key])
    return _one_block(body)


def _one_block(block: Any) -> str:
    """One content block of any provider: text as is, tool calls as ``→ name(args)``, results as ``← ...``."""
    from ..integrations._providers import part

    if isinstance(block, str):
        return block
    if isinstance(block, dict):
        if isinstance(block.get("text"), str):
            return str(block["text"])
        found = part(block)
        if found is not None and found.kind == "call":
            return f"→ {found.name}({found.value})"
        if found is not None:
            content = found.value
            return f"← {_block_text(content) if isinstance(content, list) else _one_block(content)}"
    return _json(block)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def counting_progress() -> Progress:
    """The bar on stderr; on a terminal only (a log file or CI output gets the summary alone)."""
    errs = err_console()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[extra]}"),
        TimeElapsedColumn(),
        console=errs,
        transient=False,
        disable=not errs.is_terminal,
    )


def claim_line(detail: dict[str, Any]) -> str:
    """``claim [unsupported] (chunk 2) [retrieval gap]: <claim> — <reason>`` for a ``*_details`` entry."""
    where = ""
    if detail.get("chunks"):
        where = f" (chunk {', '.join(map(str, detail['chunks']))})"
    if detail.get("cause"):
        where += f" [{str(detail['cause']).replace('_', ' ')}]"
    return f"claim [{detail.get('verdict')}]{where}: {detail.get('claim')} — {detail.get('reason')}"
