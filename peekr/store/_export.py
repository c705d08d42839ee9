"""Export rated traces as fine-tuning data: ``peekr.export_feedback(...)`` / ``peekr export-feedback``.

``openai-ft`` writes one OpenAI chat fine-tuning example per LLM chat call of every selected
trace (``{"messages": [...], "tools": [...]}``), converted from whichever provider made the call,
each line checked by :func:`validate_openai_ft` before it is written. ``raw`` writes one line per
selected trace: ``{"trace_id", "feedback", "feedback_history", "spans"}``. The latest feedback of a
trace decides whether it is selected.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._ft_messages import Unconvertible, span_to_messages
from ._readers import TraceFileError, open_traces

__all__ = ["ExportSummary", "export_feedback", "validate_openai_ft", "write_atomic"]

_FILTERS = ("good", "bad", "all")
_FORMATS = ("openai-ft", "raw")
_ROLES = ("system", "user", "assistant", "tool")


@dataclass
class ExportSummary:
    """What an export wrote and what it had to leave out."""

    output: Path
    format: str
    filter: str
    traces: int = 0  #: traces whose latest feedback matched the filter
    written: int = 0  #: lines written
    skipped: dict[str, int] = field(default_factory=dict)  #: reason -> spans (or traces) skipped

    @property
    def skipped_total(self) -> int:
        """Spans (openai-ft) or traces (raw) that could not be exported."""
        return sum(self.skipped.values())


def export_feedback(
    db_path: str | Path = "traces.db",
    filter: str = "good",
    output: str | Path = "training.jsonl",
    format: str = "openai-ft",
) -> ExportSummary:
    """Write the traces rated ``filter`` as fine-tuning data.

    Example:
        >>> summary = peekr.export_feedback(db_path="traces.db", filter="good", output="training.jsonl")
        >>> summary.written, summary.skipped
        (42, {'embeddings call, not a chat call': 3})

    Args:
        db_path: ``traces.db`` (or ``traces.jsonl``) holding the traces and their feedback.
        filter: ``"good"``, ``"bad"`` or ``"all"``: which latest rating selects a trace.
        output: The JSONL file to write (replaced atomically).
        format: ``"openai-ft"`` (OpenAI chat fine-tuning lines) or ``"raw"`` (spans with their feedback).

    Returns:
        An :class:`ExportSummary` with lines written and skipped spans counted by reason.

    Raises:
        ValueError: A bad ``filter``/``format``, or a missing or unreadable traces file.
    """
    if filter not in _FILTERS:
        raise ValueError(f"filter={filter!r} is not supported; expected one of: {', '.join(_FILTERS)}")
    if format not in _FORMATS:
        raise ValueError(f"format={format!r} is not supported; expected one of: {', '.join(_FORMATS)}")
    summary = ExportSummary(output=Path(output), format=format, filter=filter)
    skipped: Counter[str] = Counter()
    lines: list[str] = []
    try:
        store = open_traces(db_path)
    except TraceFileError as exc:
        raise ValueError(str(exc)) from None
    with store:
        history: dict[str, list[dict[str, Any]]] = {}
        for record in store.all_feedback():
            history.setdefault(record["trace_id"], []).append(record)
        for trace_id, records in history.items():
            latest = records[-1]
            if filter != "all" and latest.get("rating") != filter:
                continue
            spans = store.trace(trace_id)
            if not spans:
                skipped["trace not stored (pruned?)"] += 1
                continue
            summary.traces += 1
            if format == "raw":
                lines.append(
                    _dumps({"trace_id": trace_id, "feedback": latest, "feedback_history": records, "spans": spans})
                )
                continue
            for span in spans:
                if not _is_llm_call(span):
                    continue
                if span.get("status") == "error":
                    skipped["call failed (status error)"] += 1
                    continue
                try:
                    messages, tools = span_to_messages(span)
                except Unconvertible as exc:
                    skipped[str(exc)] += 1
                    continue
                example: dict[str, Any] = {"messages": messages}
                if tools:
                    example["tools"] = tools
                problems = validate_openai_ft(example)
                if problems:
                    skipped[f"invalid example: {problems[0]}"] += 1
                    continue
                lines.append(_dumps(example))
    summary.written = len(lines)
    summary.skipped = dict(skipped)
    write_atomic(summary.output, "".join(line + "\n" for line in lines))
    return summary


def validate_openai_ft(example: Any) -> list[str]:
    """Check one ``openai-ft`` line against OpenAI's chat fine-tuning rules; return the problems.

    Rules: a non-empty ``messages`` list; roles system/user/assistant/tool; system only first;
    at least one assistant message, and the last message is the assistant's; an assistant
    message has text or well-formed ``tool_calls`` (``id``, ``type: function``, ``function.name``,
    ``function.arguments`` a JSON string); every tool message answers a tool call of the
    assistant message before it, by ``tool_call_id``; ``tools`` (optional) are functions.
    """
    problems: list[str] = []
    if not isinstance(example, dict) or not isinstance(example.get("messages"), list) or not example["messages"]:
        return ["'messages' must be a non-empty list"]
    messages = example["messages"]
    open_calls: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        where = f"messages[{index}]"
        if role not in _ROLES:
            problems.append(f"{where}: role {role!r} is not one of {', '.join(_ROLES)}")
            continue
        if role == "system" and index != 0:
            problems.append(f"{where}: a system message may only come first")
        if role in ("system", "user") and not message.get("content"):
            problems.append(f"{where}: {role} message without content")
        if role == "assistant":
            calls = message.get("tool_calls")
            if not message.get("content") and not calls:
                problems.append(f"{where}: assistant message with neither content nor tool_calls")
            open_calls = set()
            for call in calls or []:
                problem = _check_call(call)
                if problem:
                    problems.append(f"{where}.tool_calls: {problem}")
                else:
                    open_calls.add(call["id"])
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in open_calls:
                problems.append(f"{where}: tool result {call_id!r} answers no tool call of the assistant before it")
            if not isinstance(message.get("content"), str):
                problems.append(f"{where}: tool message content must be a string")
        else:
            open_calls = set()
    if messages and (not isinstance(messages[-1], dict) or messages[-1].get("role") != "assistant"):
        problems.append("the last message must be the assistant's (the training target)")
    for tool in example.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(fn, dict)
            or not fn.get("name")
        ):
            problems.append("tools: each tool must be {'type': 'function', 'function': {'name': ...}}")
            break
    return problems


def _check_call(call: Any) -> str | None:
    if not isinstance(call, dict) or not call.get("id") or call.get("type") != "function":
        return "each tool call needs an 'id' and type 'function'"
    fn = call.get("function")
    if not isinstance(fn, dict) or not fn.get("name") or not isinstance(fn.get("arguments"), str):
        return "each tool call needs function.name and function.arguments (a JSON string)"
    try:
        json.loads(fn["arguments"])
    except ValueError:
        return f"function.arguments of {fn['name']!r} is not valid JSON"
    return None


def _is_llm_call(span: dict[str, Any]) -> bool:
    attrs = span.get("attributes") or {}
    name = str(span.get("name") or "")
    return bool(attrs.get("provider")) or name.split(".")[0] in ("openai", "anthropic", "gemini", "bedrock")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a temp file in the same folder, then rename).

    The file gets the permissions any new file gets (``0666`` minus the umask), like a file the
    user's shell would create; ``tempfile.mkstemp`` would make it ``0600``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    done = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        done = True
    finally:
        if not done:  # interrupted or failed: leave no half-written temp file behind
            tmp.unlink(missing_ok=True)
