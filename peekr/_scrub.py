"""Content scrubbing: secrets and personal data out of every captured string, before any sink.

``instrument(scrub=True)`` (every built-in detector) or ``scrub=Scrubber(detectors=[...],
patterns={"EMPLOYEE_ID": r"EMP-\\d{6}"}, replacement="[{kind}]")``. The pipeline runs it on the bus
thread on every span record (every string inside ``attributes``: input, output, request, error,
tool calls, retrieval documents, user attributes), on evaluation results and feedback notes,
before any sink, evaluator or exporter sees them. Not scrubbed: dict keys, span names, ids, and
the top-level attributes in ``NOT_CONTENT`` (``model``, ``provider``, ``finish_reason``,
``response_id``, ``kind``, ``framework``, ``db.operation``, ``http.request.method``).

Built-in detectors (``DETECTORS``) and the kind their matches become:

- ``email`` -> ``EMAIL``; ``phone`` -> ``PHONE`` (``+`` international numbers with 8+ digits,
  and North American ``(555) 123-4567`` / ``555-123-4567``);
- ``payment_card`` -> ``PAYMENT_CARD``: 13-19 digits (spaces or dashes allowed), Luhn-checked;
- ``iban`` -> ``IBAN``: country code, check digits and 11-30 letters/digits, mod-97 checked;
- ``national_id`` -> ``NATIONAL_ID``: US Social Security numbers (``123-45-6789``, impossible
  area numbers excluded) and UK National Insurance numbers (``QQ 12 34 56 C``);
- ``api_key`` -> ``API_KEY``: OpenAI (``sk-``, ``sk-proj-``), Anthropic (``sk-ant-``), AWS
  access key ids (``AKIA``/``ASIA``), GitHub (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``,
  ``github_pat_``) and Google (``AIza``) key shapes;
- ``bearer_token`` -> ``BEARER_TOKEN``: ``Bearer <token>``;
- ``private_key`` -> ``PRIVATE_KEY``: PEM private key blocks (``-----BEGIN ... PRIVATE KEY-----``
  to its ``END`` line, or to the end of the string when the capture cut it).

Cheap substring tests pick the detector families that can match a string (prose without ``@``,
key prefixes or digits costs a few substring tests); digits go through one scan for runs of 8+
digits and separators, inside which cards, SSNs and phone numbers are told apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DETECTORS", "NOT_CONTENT", "Scrubber", "iban_valid", "luhn_valid", "validate_scrub"]

_KINDS = {
    "private_key": "PRIVATE_KEY",
    "api_key": "API_KEY",
    "bearer_token": "BEARER_TOKEN",
    "email": "EMAIL",
    "iban": "IBAN",
    "payment_card": "PAYMENT_CARD",
    "national_id": "NATIONAL_ID",
    "phone": "PHONE",
}

#: Top-level span attributes that name the call, not its content: never scrubbed (all
#: strings the integrations set from the SDK's own enumerations or ids).
NOT_CONTENT = frozenset(
    {"model", "provider", "finish_reason", "response_id", "kind", "framework", "db.operation", "http.request.method"}
)

#: The built-in detector names.
DETECTORS: tuple[str, ...] = tuple(_KINDS)

_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)"
)
_API_KEY = re.compile(
    r"(?:sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"
    r"|AIza[0-9A-Za-z_\-]{35})"
)
_KEY_HINT = re.compile(r"sk-|AKIA|ASIA|gh[pousr]_|github_pat_|AIza")
_BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/\-]{8,}=*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]++@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
#: IBANs and UK NI numbers in one scan (both start with a capital letter: a fast prefix scan).
_LETTERS_DIGITS = re.compile(
    r"[A-Z](?:(?P<iban>[A-Z][0-9]{2}(?: ?[A-Z0-9]){11,30}\b)|(?P<nino>[A-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b))"
)
_NINO_FIRST = frozenset("ABCEGHJKLMNOPRSTWXYZ")
_NINO_SECOND = frozenset("ABCEGHJKLMNPRSTWXYZ")
_NINO_BAD_PREFIX = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})
#: Runs of 8+ digits and separators: the only places a card, SSN or phone number can be.
_DIGIT_RUN = re.compile(r"[+(0-9][0-9 \-.()]{6,}[0-9]")
_IN_RUN: dict[str, str] = {
    "payment_card": r"(?<![0-9])[0-9](?:[ \-]?[0-9]){12,18}(?![0-9])",
    "national_id": r"(?<![0-9\-])(?!000|666|9[0-9][0-9])[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![0-9\-])",
    "phone": r"\+[0-9]{1,3}(?:[ .\-]?\(?[0-9]{1,4}\)?){2,5}(?![0-9])"
    r"|(?<![0-9])\(?[0-9]{3}\)?[ .\-][0-9]{3}[ .\-][0-9]{4}(?![0-9])",
}
_DIGIT = re.compile(r"[0-9]")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (payment card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """The ISO 13616 mod-97 check of an IBAN (spaces ignored)."""
    iban = text.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    try:
        return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1
    except ValueError:
        return False


class Scrubber:
    """Replaces secrets and personal data in strings (see the module docstring).

    Args:
        detectors: Built-in detectors to use (``DETECTORS``); default: all of them.
        patterns: Extra ``{kind: regex}``; a match becomes ``replacement`` with that kind.
        replacement: What a match becomes; ``{kind}`` is replaced by the detector's kind.

    Raises:
        ValueError: an unknown detector, a regex that does not compile or matches the empty
            string, a bad kind name or a replacement that is not a ``str.format`` template.
        TypeError: arguments of the wrong type.

    Example:
        >>> Scrubber().scrub_text("mail bob@example.com")
        'mail [EMAIL]'
    """

    def __init__(
        self,
        detectors: Iterable[str] | None = None,
        patterns: Mapping[str, str] | None = None,
        replacement: str = "[{kind}]",
    ) -> None:
        if isinstance(detectors, str):
            raise TypeError(f"Scrubber(detectors=...) expects a list of names, got the string {detectors!r}")
        chosen = list(DETECTORS if detectors is None else detectors)
        unknown = [d for d in chosen if d not in _KINDS]
        if unknown:
            raise ValueError(f"Scrubber(detectors=...): unknown {unknown}; known: {', '.join(DETECTORS)}")
        if patterns is not None and not isinstance(patterns, Mapping):
            raise TypeError(f"Scrubber(patterns=...) expects a dict {{kind: regex}}, got {type(patterns).__name__}")
        if not isinstance(replacement, str):
            raise TypeError(f"Scrubber(replacement=...) expects a str, got {replacement!r}")
        try:
            replacement.format(kind="EMAIL")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"Scrubber(replacement={replacement!r}) must be a str.format template using only {{kind}}: {exc}"
            ) from None
        custom: list[tuple[str, str]] = []
        for kind, regex in (patterns or {}).items():
            if not isinstance(kind, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", kind):
                raise ValueError(f"Scrubber(patterns=...): kind {kind!r} must be a name like 'EMPLOYEE_ID'")
            if not isinstance(regex, str):
                raise TypeError(f"Scrubber(patterns={{{kind!r}: ...}}) expects a regex str, got {regex!r}")
            try:
                compiled = re.compile(regex)
            except re.error as exc:
                raise ValueError(f"Scrubber(patterns={{{kind!r}: {regex!r}}}) is not a valid regex: {exc}") from None
            if compiled.match(""):
                raise ValueError(f"Scrubber(patterns={{{kind!r}: {regex!r}}}) matches the empty string")
            custom.append((kind, regex))
        self.detectors = tuple(d for d in DETECTORS if d in chosen)
        self.patterns = dict(custom)
        self.replacement = replacement
        self._custom_kinds = [kind for kind, _ in custom]
        self._custom = (
            re.compile("|".join(f"(?P<c{i}>{regex})" for i, (_, regex) in enumerate(custom))) if custom else None
        )
        self._marks = {kind: replacement.format(kind=kind) for kind in [*_KINDS.values(), *self._custom_kinds]}
        on = set(self.detectors)
        in_run = [f"(?P<{name}>{regex})" for name, regex in _IN_RUN.items() if name in on]
        self._in_run = re.compile("|".join(in_run)) if in_run else None
        self._on = on
        self._letters = "iban" in on or "national_id" in on
        m = self._marks
        self._mark_key = m["API_KEY"]
        self._mark_bearer = m["BEARER_TOKEN"]
        self._mark_pem = m["PRIVATE_KEY"]
        self._mark_email = m["EMAIL"]

    def _run(self, match: re.Match[str]) -> str:
        assert self._in_run is not None
        start = match.start()
        if start >= 2 and match.string[start - 2 : start].isalpha() and match.string[start - 2 : start].isupper():
            return match.group(0)  # the digits of an IBAN-shaped token that failed its mod-97 check
        return self._in_run.sub(self._in_run_replace, match.group(0))

    def _in_run_replace(self, match: re.Match[str]) -> str:
        name = match.lastgroup or ""
        text = match.group(0)
        if name == "payment_card" and not luhn_valid(text.replace(" ", "").replace("-", "")):
            return text
        return self._marks[_KINDS[name]]

    def _letters_digits(self, match: re.Match[str]) -> str:
        text = match.group(0)
        if match.lastgroup == "iban":
            return self._marks["IBAN"] if "iban" in self._on and iban_valid(text) else text
        start = match.start()
        if (
            "national_id" not in self._on
            or text[0] not in _NINO_FIRST
            or text[1] not in _NINO_SECOND
            or text[:2] in _NINO_BAD_PREFIX
            or (start and match.string[start - 1].isalnum())
        ):
            return text
        return self._marks["NATIONAL_ID"]

    def _custom_replace(self, match: re.Match[str]) -> str:
        return self._marks[self._custom_kinds[int((match.lastgroup or "c0")[1:])]]

    def scrub_text(self, text: str) -> str:
        """``text`` with every match replaced.

        A pass per detector family that can match, picked by cheap substring tests (most text
        needs one or two): private keys, API keys, bearer tokens, emails, IBANs and UK NI numbers,
        then runs of digits (cards, SSNs, phone numbers checked inside each run), custom patterns.
        """
        on = self._on
        if "-----BEGIN" in text and "private_key" in on:
            text = _PRIVATE_KEY.sub(self._mark_pem, text)
        if "api_key" in on and _KEY_HINT.search(text) is not None:
            text = _API_KEY.sub(self._mark_key, text)
        if "Bearer" in text and "bearer_token" in on:
            text = _BEARER.sub(self._mark_bearer, text)
        if "@" in text and "email" in on:
            text = _EMAIL.sub(self._mark_email, text)
        if len(text) >= 8 and _DIGIT.search(text) is not None:
            if len(text) >= 9 and self._letters:  # before the digit runs: an IBAN holds one
                text = _LETTERS_DIGITS.sub(self._letters_digits, text)
            if self._in_run is not None:
                text = _DIGIT_RUN.sub(self._run, text)
        if self._custom is not None:
            text = self._custom.sub(self._custom_replace, text)
        return text

    def scrub_value(self, value: Any, _depth: int = 0) -> Any:
        """Scrub every string inside ``value``; dicts and lists in place, the rest rebuilt.

        At the top level of a span's attributes, the few keys that name the call rather than
        its content (``NOT_CONTENT``: model, provider, finish reason, response id...) are skipped.
        """
        if type(value) is str:
            return self.scrub_text(value)
        if _depth > 64:
            return value
        text = self.scrub_text
        if type(value) is dict:
            skip = NOT_CONTENT if _depth == 0 else ()
            for key, item in value.items():
                kind = type(item)
                if kind is str:
                    if key not in skip:
                        value[key] = text(item)
                elif kind is dict or kind is list or kind is tuple:
                    value[key] = self.scrub_value(item, _depth + 1)
            return value
        if type(value) is list:
            for i, item in enumerate(value):
                kind = type(item)
                if kind is str:
                    value[i] = text(item)
                elif kind is dict or kind is list or kind is tuple:
                    value[i] = self.scrub_value(item, _depth + 1)
            return value
        if isinstance(value, tuple):
            return tuple(self.scrub_value(item, _depth + 1) for item in value)
        if isinstance(value, (dict, list)):  # subclasses: the slow path
            return self.scrub_value(dict(value) if isinstance(value, dict) else list(value), _depth)
        return value

    def scrub_event(self, event: Any) -> None:
        """Scrub a ``Span`` / ``EvalResult`` (attributes, error) or ``Feedback`` (note) in place."""
        record = getattr(event, "record", None)
        if record == "feedback":
            if isinstance(event.note, str):
                object.__setattr__(event, "note", self.scrub_text(event.note))
            return
        self.scrub_value(event.attributes)
        if record == "eval" and isinstance(event.error, str):
            object.__setattr__(event, "error", self.scrub_text(event.error))

    def __repr__(self) -> str:
        return f"Scrubber(detectors={list(self.detectors)!r}, patterns={self.patterns!r}, replacement={self.replacement!r})"


def validate_scrub(scrub: Any) -> Scrubber | None:
    """``instrument(scrub=...)``: False/None (off), True (every detector) or a ``Scrubber``."""
    if scrub is None or scrub is False:
        return None
    if scrub is True:
        return Scrubber()
    if isinstance(scrub, Scrubber):
        return scrub
    raise TypeError(f"instrument(scrub=...) expects True, False or a peekr.Scrubber(...), got {scrub!r}")
