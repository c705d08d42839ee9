"""Deterministic checks: no judge, no network, a score of 1.0 (pass) or 0.0 (fail) with the reason.

``NotEmpty``, ``MaxLength``, ``Regex`` and ``JsonSchema`` read the answer text of a span (its
``output``, the assistant's text as ``peekr.eval`` sees it) and store ``{name: 1.0 | 0.0}`` in
``eval_scores`` and ``{name}_details`` (why) on the span, like every evaluator.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .._span import Span
from ._base import EvalScore, SpanFilter, check_run_settings
from ._text import response_text

__all__ = ["JsonSchema", "MaxLength", "NotEmpty", "Regex"]

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


class _Check:
    """Run settings and the pass/fail result shared by the checks."""

    name: str

    def __init__(
        self,
        name: str,
        *,
        sample_rate: float = 1.0,
        filter: SpanFilter | None = None,
        timeout: float = 10.0,
        max_concurrency: int = 4,
        max_backlog: int = 1000,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        settings = check_run_settings(
            f"{type(self).__name__}",
            sample_rate=sample_rate,
            filter=filter,
            timeout=timeout,
            max_concurrency=max_concurrency,
            max_backlog=max_backlog,
        )
        self.sample_rate = settings.sample_rate
        self.filter = settings.filter
        self.timeout = settings.timeout
        self.max_concurrency = settings.max_concurrency
        self.max_backlog = settings.max_backlog

    def evaluate(self, span: Span) -> EvalScore:
        """Score the span's answer: 1.0 passes, 0.0 fails; the reason goes to ``<name>_details``."""
        passed, reason = self.check(response_text(span.attributes.get("output")))
        return EvalScore(scores={self.name: 1.0 if passed else 0.0}, attributes={f"{self.name}_details": reason})

    def check(self, text: str) -> tuple[bool, str]:
        """``(passed, why)`` for an answer text."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<peekr.eval.{type(self).__name__} {self.name!r}>"


class NotEmpty(_Check):
    """Fails an answer that is empty or only whitespace (a refusal to answer, a lost stream)."""

    def __init__(self, *, name: str = "not_empty", **settings: Any) -> None:
        super().__init__(name, **settings)

    def check(self, text: str) -> tuple[bool, str]:
        return (True, f"{len(text)} characters") if text.strip() else (False, "the answer is empty")


class MaxLength(_Check):
    """Fails an answer longer than ``chars`` characters."""

    def __init__(self, chars: int, *, name: str = "max_length", **settings: Any) -> None:
        if isinstance(chars, bool) or not isinstance(chars, int) or chars < 1:
            raise ValueError(f"MaxLength(chars=...) must be a positive int, got {chars!r}")
        super().__init__(name, **settings)
        self.chars = chars

    def check(self, text: str) -> tuple[bool, str]:
        if len(text) <= self.chars:
            return True, f"{len(text)} of at most {self.chars} characters"
        return False, f"{len(text)} characters, over the limit of {self.chars}"


class Regex(_Check):
    """Passes an answer the pattern is found in (``must_match=False``: one it is NOT found in).

    Example:
        >>> peekr.eval.Regex(r"\\[\\d+\\]", name="cites_a_source")
        >>> peekr.eval.Regex(r"(?i)as an ai", must_match=False, name="no_disclaimer")
    """

    def __init__(self, pattern: str, *, must_match: bool = True, name: str = "regex", **settings: Any) -> None:
        if not isinstance(pattern, str):
            raise TypeError(f"Regex(pattern=...) must be a str, got {pattern!r}")
        try:
            self.pattern = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"Regex(pattern={pattern!r}) is not a valid regular expression: {exc}") from None
        super().__init__(name, **settings)
        self.must_match = bool(must_match)

    def check(self, text: str) -> tuple[bool, str]:
        found = self.pattern.search(text)
        if self.must_match:
            return (True, f"matched {found.group(0)[:80]!r}") if found else (False, "the pattern was not found")
        return (False, f"forbidden match {found.group(0)[:80]!r}") if found else (True, "no forbidden match")


class JsonSchema(_Check):
    """Passes an answer that is JSON valid against ``schema`` (a ```json fence around it is fine).

    Needs the ``jsonschema`` package (``pip install "peekr-sdk[evals]"``).
    """

    def __init__(self, schema: dict[str, Any], *, name: str = "json_schema", **settings: Any) -> None:
        try:
            import jsonschema
        except ImportError:
            raise ModuleNotFoundError(
                'peekr.eval.JsonSchema needs the jsonschema package: pip install "peekr-sdk[evals]"'
            ) from None
        if not isinstance(schema, dict):
            raise TypeError(f"JsonSchema(schema=...) must be a dict (a JSON Schema), got {type(schema).__name__}")
        validator_class = jsonschema.validators.validator_for(schema)
        try:
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"JsonSchema(schema=...) is not a valid JSON Schema: {exc.message}") from None
        super().__init__(name, **settings)
        self.schema = schema
        self._validator = validator_class(schema)

    def check(self, text: str) -> tuple[bool, str]:
        fenced = _FENCE.match(text)
        try:
            value = json.loads(fenced.group(1) if fenced else text)
        except ValueError as exc:
            return False, f"not JSON: {exc}"
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(e.path))
        if not errors:
            return True, "valid"
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(root)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return False, f"{where}: {first.message}{more}"
