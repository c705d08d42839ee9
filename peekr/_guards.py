"""Guardrails: ``instrument(guards=[peekr.Blocklist(...)])`` checks requests and responses.

Input guards run on the caller's thread in the provider wrapper, BEFORE the request is sent:

- ``action="raise"``: ``peekr.GuardrailError`` is raised to the caller; the provider receives
  nothing; the span is recorded with that error;
- ``action="redact"``: the request is sent with every match replaced by ``replacement``;
- ``action="warn"``: logged once per guard on the ``peekr`` logger (a warning), and recorded.

Output guards run after a non-streaming response arrives, before the span records it. They never
change what the caller receives, except ``action="redact"`` (the matched text in the response
object's text fields — OpenAI ``choices[].message.content``, Anthropic ``content[].text``, Bedrock
``output.message.content[].text``, Gemini ``candidates[].content.parts[].text`` — is replaced in
place) and ``action="raise"`` (``GuardrailError`` instead of the response). Streams are not
checked on output.

Every guard that matched is recorded on the span as ``guardrails``: ``[{"guard", "on",
"action", "matches"}]`` (the count, never the matched text). The texts checked: every string of
the request's content arguments (``messages``, ``system``, ``input``, ``instructions``,
``contents``, ``prompt``, a Gemini ``config.system_instruction``), except values under keys that
are not text (``role``, ``type``, ids, names, media types, image URLs, base64 ``data``); Bedrock
``invoke_model`` bodies (raw bytes) are not checked. Peekr never raises into the caller for any
other reason: a guard that fails internally is logged and counted, and the call goes on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

__all__ = ["Blocklist", "Guard", "GuardrailError", "GuardOutcome", "validate_guards"]

logger = logging.getLogger("peekr")

_ONS = ("input", "output", "both")
_ACTIONS = ("raise", "redact", "warn")
#: Request keyword arguments that hold content.
CONTENT_KWARGS = ("messages", "system", "input", "instructions", "contents", "prompt")
#: Keys whose values are never text to check (ids, roles, media, base64).
_SKIP_KEYS = frozenset(
    {
        "role",
        "type",
        "id",
        "tool_call_id",
        "tool_use_id",
        "name",
        "model",
        "media_type",
        "mime_type",
        "url",
        "image_url",
        "data",
        "inline_data",
        "bytes",
        "source",
        "cache_control",
        "file_id",
        "file_data",
    }
)


class GuardrailError(Exception):
    """A ``Blocklist(action="raise")`` matched: the request was not sent (or the response withheld).

    Attributes:
        guard: The guard's name.
        on: ``"input"`` or ``"output"``.
        matches: How many matches were found.
    """

    def __init__(self, guard: str, on: str, matches: int) -> None:
        self.guard = guard
        self.on = on
        self.matches = matches
        where = "the request was not sent" if on == "input" else "the response was withheld"
        super().__init__(
            f"peekr guardrail {guard!r} blocked this call: {matches} match(es) in the {on}; {where}. "
            f"(instrument(guards=[... action='raise']))"
        )


class Blocklist:
    """Block, redact or flag words and patterns in what is sent to and received from a model.

    Args:
        words: Words or phrases, matched case-insensitively as whole words.
        patterns: Regular expressions (``re`` syntax), matched as written.
        on: ``"input"`` (the request), ``"output"`` (the response) or ``"both"``.
        action: ``"raise"``, ``"redact"`` or ``"warn"`` (see ``peekr._guards``).
        replacement: What a match becomes with ``action="redact"``.
        name: Shown in errors, logs and the ``guardrails`` attribute (default ``"blocklist"``).

    Raises:
        ValueError: no words or patterns, an empty word, a bad regex, or an unknown ``on``/``action``.
        TypeError: arguments of the wrong type.

    Example:
        >>> peekr.instrument(guards=[peekr.Blocklist(["project nightingale"], action="raise")])
    """

    def __init__(
        self,
        words: Iterable[str] = (),
        *,
        patterns: Iterable[str] = (),
        on: Literal["input", "output", "both"] = "input",
        action: Literal["raise", "redact", "warn"] = "raise",
        replacement: str = "[BLOCKED]",
        name: str = "blocklist",
    ) -> None:
        if isinstance(words, str):
            raise TypeError(f"Blocklist(words=...) expects a list of words, got the string {words!r}")
        if isinstance(patterns, str):
            raise TypeError(f"Blocklist(patterns=...) expects a list of regexes, got the string {patterns!r}")
        word_list, pattern_list = list(words), list(patterns)
        if not word_list and not pattern_list:
            raise ValueError("Blocklist() needs at least one word or pattern")
        for word in word_list:
            if not isinstance(word, str) or not word.strip():
                raise ValueError(f"Blocklist(words=...): every word must be a non-empty str, got {word!r}")
        parts = [r"(?<!\w)" + re.escape(w.strip()) + r"(?!\w)" for w in word_list]
        for pattern in pattern_list:
            if not isinstance(pattern, str):
                raise TypeError(f"Blocklist(patterns=...) expects regex strings, got {pattern!r}")
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"Blocklist(patterns=[{pattern!r}]) is not a valid regex: {exc}") from None
            if compiled.match(""):
                raise ValueError(f"Blocklist(patterns=[{pattern!r}]) matches the empty string")
            parts.append(f"(?:{pattern})")
        if on not in _ONS:
            raise ValueError(f"Blocklist(on={on!r}): expected one of {', '.join(_ONS)}")
        if action not in _ACTIONS:
            raise ValueError(f"Blocklist(action={action!r}): expected one of {', '.join(_ACTIONS)}")
        if not isinstance(replacement, str):
            raise TypeError(f"Blocklist(replacement=...) expects a str, got {replacement!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"Blocklist(name=...) must be a non-empty str, got {name!r}")
        self.words = tuple(word_list)
        self.patterns = tuple(pattern_list)
        self.on = on
        self.action = action
        self.replacement = replacement
        self.name = name
        self._words_regex = re.compile("|".join(parts[: len(word_list)]), re.IGNORECASE) if word_list else None
        self._patterns_regex = re.compile("|".join(parts[len(word_list) :])) if pattern_list else None
        self.warned = False

    def applies_to(self, on: str) -> bool:
        """True when this guard checks ``on`` (``"input"`` or ``"output"``)."""
        return self.on == on or self.on == "both"

    def count(self, text: str) -> int:
        """How many matches ``text`` holds."""
        n = 0
        if self._words_regex is not None:
            n += sum(1 for _ in self._words_regex.finditer(text))
        if self._patterns_regex is not None:
            n += sum(1 for _ in self._patterns_regex.finditer(text))
        return n

    def redact(self, text: str) -> str:
        """``text`` with every match replaced."""
        if self._words_regex is not None:
            text = self._words_regex.sub(self.replacement, text)
        if self._patterns_regex is not None:
            text = self._patterns_regex.sub(self.replacement, text)
        return text

    def __repr__(self) -> str:
        return f"Blocklist(words={list(self.words)!r}, patterns={list(self.patterns)!r}, on={self.on!r}, action={self.action!r})"


#: What ``instrument(guards=...)`` takes.
Guard = Blocklist


def validate_guards(guards: Any) -> tuple[Blocklist, ...]:
    """Check ``instrument(guards=...)``."""
    if guards is None:
        return ()
    if isinstance(guards, Blocklist) or not isinstance(guards, Sequence) or isinstance(guards, str):
        raise TypeError(f"instrument(guards=...) expects a list of peekr.Blocklist(...), got {guards!r}")
    for guard in guards:
        if not isinstance(guard, Blocklist):
            raise TypeError(f"instrument(guards=...): {guard!r} is not a peekr.Blocklist(...)")
    return tuple(guards)


class GuardOutcome:
    """What the guards found on one side of a call: records for the span, and an error to raise."""

    __slots__ = ("error", "records")

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.error: GuardrailError | None = None


def _rewrite(value: Any, fn: Any, depth: int = 0) -> Any:
    """``value`` with ``fn`` applied to every text string (copies; the caller's objects are untouched)."""
    if isinstance(value, str):
        return fn(value)
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {k: (v if k in _SKIP_KEYS else _rewrite(v, fn, depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_rewrite(v, fn, depth + 1) for v in value)
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, dict):  # a pydantic object (Gemini types, SDK params)
        update = {}
        for key in fields:
            if key in _SKIP_KEYS:
                continue
            item = getattr(value, key, None)
            if item is not None:
                new = _rewrite(item, fn, depth + 1)
                if new is not item:
                    update[key] = new
        return value.model_copy(update=update) if update else value
    return value


def _texts(value: Any, out: list[str], depth: int = 0) -> None:
    if isinstance(value, str):
        out.append(value)
    elif depth > 20:
        return
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in _SKIP_KEYS:
                _texts(v, out, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _texts(v, out, depth + 1)
    else:
        fields = getattr(type(value), "model_fields", None)
        if isinstance(fields, dict):
            for key in fields:
                if key not in _SKIP_KEYS:
                    _texts(getattr(value, key, None), out, depth + 1)


def _content(kwargs: dict[str, Any]) -> dict[str, Any]:
    parts = {k: kwargs[k] for k in CONTENT_KWARGS if kwargs.get(k) is not None}
    config = kwargs.get("config")
    if config is not None:
        system = (
            config.get("system_instruction")
            if isinstance(config, dict)
            else getattr(config, "system_instruction", None)
        )
        if system is not None:
            parts["config.system_instruction"] = system
    return parts


def _record(guard: Blocklist, on: str, matches: int, outcome: GuardOutcome) -> None:
    outcome.records.append({"guard": guard.name, "on": on, "action": guard.action, "matches": matches})
    if guard.action == "raise" and outcome.error is None:
        outcome.error = GuardrailError(guard.name, on, matches)
    elif guard.action == "warn" and not guard.warned:
        guard.warned = True
        logger.warning(
            "peekr: guardrail %r matched %d time(s) in the %s (action='warn'; recorded on the span as "
            "'guardrails'; further matches are recorded but not logged)",
            guard.name,
            matches,
            on,
        )


def _redacted(request: dict[str, Any], guard: Blocklist) -> dict[str, Any]:
    """A copy of ``request`` (keyword arguments or Bedrock ``api_params``) with matches replaced."""
    request = dict(request)
    for key, value in _content(request).items():
        new = _rewrite(value, guard.redact)
        if key == "config.system_instruction":
            config = request["config"]
            if isinstance(config, dict):
                request["config"] = {**config, "system_instruction": new}
            else:
                request["config"] = config.model_copy(update={"system_instruction": new})
        else:
            request[key] = new
    return request


def check_input(
    guards: Sequence[Blocklist], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any], GuardOutcome]:
    """Run the input guards on a request: ``(args, kwargs to send, outcome)``.

    The request is the keyword arguments (OpenAI, Anthropic, Gemini) or a positional dict of
    parameters (Bedrock's ``api_params``). The caller's own objects are never changed: a
    redacted request is a copy.
    """
    outcome = GuardOutcome()
    positions = [i for i, a in enumerate(args) if isinstance(a, dict) and _content(a)]
    if not positions and not _content(kwargs):
        return args, kwargs, outcome
    for guard in guards:
        if not guard.applies_to("input"):
            continue
        texts: list[str] = []
        _texts(_content(kwargs), texts)
        for i in positions:
            _texts(_content(args[i]), texts)
        matches = sum(guard.count(t) for t in texts)
        if not matches:
            continue
        _record(guard, "input", matches, outcome)
        if guard.action == "redact":
            kwargs = _redacted(kwargs, guard)
            args = tuple(_redacted(a, guard) if i in positions else a for i, a in enumerate(args))
    return args, kwargs, outcome


def _output_holders(result: Any) -> list[tuple[Any, str]]:
    """``(object, field)`` pairs holding the response's text, for the four providers' shapes."""
    holders: list[tuple[Any, str]] = []

    def get(obj: Any, key: str) -> Any:
        return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)

    for choice in get(result, "choices") or ():  # OpenAI chat
        message = get(choice, "message")
        if message is not None and isinstance(get(message, "content"), str):
            holders.append((message, "content"))
    content = get(result, "content")  # Anthropic
    if isinstance(content, list):
        holders.extend((block, "text") for block in content if isinstance(get(block, "text"), str))
    output = get(result, "output")  # Bedrock converse
    message = get(output, "message") if isinstance(output, dict) else None
    if message is not None:
        holders.extend(
            (block, "text") for block in get(message, "content") or () if isinstance(get(block, "text"), str)
        )
    for candidate in get(result, "candidates") or ():  # Gemini
        parts = get(get(candidate, "content"), "parts") or ()
        holders.extend((part, "text") for part in parts if isinstance(get(part, "text"), str))
    return holders


def check_output(guards: Sequence[Blocklist], result: Any) -> GuardOutcome:
    """Run the output guards on a non-streaming response (redact changes it in place)."""
    outcome = GuardOutcome()
    holders: list[tuple[Any, str]] | None = None
    for guard in guards:
        if not guard.applies_to("output"):
            continue
        if holders is None:
            holders = _output_holders(result)
        if not holders:
            return outcome
        matches = 0
        for obj, key in holders:
            text = obj[key] if isinstance(obj, dict) else getattr(obj, key)
            n = guard.count(text)
            if n and guard.action == "redact":
                new = guard.redact(text)
                if isinstance(obj, dict):
                    obj[key] = new
                else:
                    setattr(obj, key, new)
            matches += n
        if matches:
            _record(guard, "output", matches, outcome)
    return outcome
