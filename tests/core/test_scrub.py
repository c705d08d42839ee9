"""The Scrubber: every built-in detector, checksums, custom patterns, options, and the pipeline stage."""

from __future__ import annotations

from typing import Any

import pytest
from scrub_secrets import NEGATIVES, SECRETS

import peekr
from peekr._scrub import DETECTORS, Scrubber, iban_valid, luhn_valid
from peekr.sinks.memory import InMemorySink


@pytest.mark.parametrize(("kind", "secret"), [(k, s) for k, values in SECRETS.items() for s in values])
def test_every_detector_replaces_its_kind(kind: str, secret: str) -> None:
    out = Scrubber().scrub_text(f"before {secret} after")
    assert out == f"before [{kind}] after"


@pytest.mark.parametrize("text", NEGATIVES)
def test_checksum_failures_and_ordinary_numbers_are_left_alone(text: str) -> None:
    assert Scrubber().scrub_text(text) == text


def test_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB82 WEST 1234 5698 7654 33")
    assert not iban_valid("GB82")


def test_a_truncated_private_key_is_scrubbed_to_the_end() -> None:
    text = "key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC…[peekr: truncated 900 of 1000 chars]"
    assert Scrubber().scrub_text(text) == "key: [PRIVATE_KEY]"


def test_detectors_subset_custom_patterns_and_replacement() -> None:
    scrubber = Scrubber(detectors=["email"], patterns={"EMPLOYEE_ID": r"EMP-\d{6}"}, replacement="<redacted:{kind}>")
    out = scrubber.scrub_text("bob@example.com EMP-123456 078-05-1120")
    assert out == "<redacted:EMAIL> <redacted:EMPLOYEE_ID> 078-05-1120"  # national_id not chosen


def test_nested_values_are_scrubbed_in_place_keys_untouched() -> None:
    value: dict[str, Any] = {"a@b.io": ["x jane@example.org", {"t": ("AKIAIOSFODNN7EXAMPLE", 3)}], "n": 4111}
    Scrubber().scrub_value(value)
    assert value == {"a@b.io": ["x [EMAIL]", {"t": ("[API_KEY]", 3)}], "n": 4111}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"detectors": ["email", "passport"]}, ValueError, "unknown \\['passport'\\]"),
        ({"detectors": "email"}, TypeError, "list of names"),
        ({"patterns": {"X": "("}}, ValueError, "not a valid regex"),
        ({"patterns": {"X": "a*"}}, ValueError, "matches the empty string"),
        ({"patterns": {"bad kind": "x"}}, ValueError, "must be a name"),
        ({"patterns": [("X", "x")]}, TypeError, "expects a dict"),
        ({"replacement": "[{type}]"}, ValueError, "using only \\{kind\\}"),
        ({"replacement": 3}, TypeError, "expects a str"),
    ],
)
def test_bad_scrubber_options_raise_clear_errors(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Scrubber(**kwargs)


def test_bad_scrub_option_to_instrument() -> None:
    with pytest.raises(TypeError, match="expects True, False or a peekr.Scrubber"):
        peekr.instrument(storage="none", scrub="yes")  # type: ignore[arg-type]


def test_pipeline_scrubs_spans_eval_results_and_feedback_before_sinks() -> None:
    sink = InMemorySink()
    seen: list[str] = []

    def evaluator(span: peekr.Span) -> float:
        seen.append(str(span.attributes))
        return 1.0

    peekr.instrument(storage="none", sinks=[sink], scrub=True, evaluators=[evaluator])
    try:
        with peekr.span("call", provider="fake", prompt="mail jane@example.org"):
            raise RuntimeError("card 4111 1111 1111 1111 declined")
    except RuntimeError:
        pass
    assert peekr.flush(10)
    span = sink.spans[0]
    trace_id = span.trace_id
    peekr.feedback(trace_id, rating="bad", note="call me on (415) 555-0199")
    assert peekr.flush(10)
    assert span.attributes["prompt"] == "mail [EMAIL]"  # type: ignore[typeddict-item]
    assert span.attributes["error"]["message"] == "card [PAYMENT_CARD] declined"
    assert seen and "jane@example.org" not in seen[0]  # the evaluator saw the scrubbed span
    notes = [f.note for f in sink.feedback]
    assert notes == ["call me on [PHONE]"]


def test_detector_names_are_documented() -> None:
    assert set(DETECTORS) == {
        "email",
        "phone",
        "payment_card",
        "iban",
        "national_id",
        "api_key",
        "bearer_token",
        "private_key",
    }
