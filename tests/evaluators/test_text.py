"""Flattening span inputs/outputs of every provider shape to text for the judge."""

from __future__ import annotations

from typing import Any

import pytest

from peekr.evaluators._text import context_text, response_text
from peekr.evaluators.hallucination import _question


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Plain prompt.", "Plain prompt."),
        (["Doc one.", "Doc two."], "Doc one.\n\nDoc two."),
        (
            [{"role": "system", "content": "Facts: A."}, {"role": "user", "content": "Q?"}],
            "[system] Facts: A.\n\nQ?",
        ),
        (  # content blocks; images carry no facts
            [{"role": "user", "content": [{"type": "text", "text": "See:"}, {"type": "image_url", "image_url": {}}]}],
            "See:",
        ),
        ({"system": "Facts: B.", "messages": [{"role": "user", "content": "Q?"}]}, "Facts: B.\n\nQ?"),
        ({"system": "Be brief.", "input": "Doc C."}, "Be brief.\n\nDoc C."),  # OpenAI responses
        ({"contents": [{"role": "user", "parts": [{"text": "Gemini doc."}]}]}, "Gemini doc."),
        ({"messages": [{"role": "user", "content": [{"text": "Bedrock doc."}]}]}, "Bedrock doc."),
        (
            [
                {"role": "tool", "content": "Retrieved: D."},
                {"role": "user", "content": [{"type": "tool_result", "content": "E."}]},
            ],
            "[tool] Retrieved: D.\n\nE.",
        ),
        (None, ""),
        ({}, ""),
    ],
)
def test_context_shapes(value: Any, expected: str) -> None:
    assert context_text(value) == expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Answer.", "Answer."),
        (["Choice one.", "Choice two."], "Choice one.\n\nChoice two."),
        ({"role": "assistant", "content": "Msg."}, "Msg."),
        ([{"type": "text", "text": "Hi."}, {"type": "tool_use", "input": {"x": 1}}], "Hi."),
        ({"choices": [{"message": {"content": "Raw."}}]}, "Raw."),
        (None, ""),
    ],
)
def test_response_shapes(output: Any, expected: str) -> None:
    assert response_text(output) == expected


def test_question_is_the_last_user_message() -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "second"},
    ]
    assert _question(messages) == "second"
    assert _question({"system": "s", "messages": messages}) == "second"
    assert _question("just a prompt") == "just a prompt"
    assert _question(None) is None


def test_evidence_quotes_are_matched_leniently_but_not_invented() -> None:
    from peekr.evaluators.hallucination import _normalize, _quoted

    context = _normalize("The Eiffel Tower is 330 metres tall.\nIt opened to the public in 1889.")
    assert _quoted("the eiffel tower is  330 metres tall", context)  # case and whitespace
    assert _quoted("“It opened to the public in 1889”", context)  # typographic quotes
    assert _quoted("The Eiffel Tower is 330 metres tall … in 1889", context)  # elided fragments
    assert not _quoted("The Eiffel Tower is 300 metres tall", context)
    assert not _quoted("...", context)
