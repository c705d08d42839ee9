"""What one line of an OpenAI fine-tuning file must look like (the store and CLI export tests)."""

from __future__ import annotations

import json
from typing import Any

ROLES = {"system", "user", "assistant", "tool"}


def check_openai_ft_line(example: dict[str, Any]) -> None:
    """OpenAI's chat fine-tuning format, checked independently of peekr's own validator."""
    assert set(example) <= {"messages", "tools"}
    messages = example["messages"]
    assert messages and all(m["role"] in ROLES for m in messages)
    assert all(m["role"] != "system" for m in messages[1:]), "system only first"
    assert messages[-1]["role"] == "assistant", "the training target is the assistant's turn"
    assert messages[1 if messages[0]["role"] == "system" else 0]["role"] == "user", (
        "the conversation opens with the user"
    )
    pending: set[str] = set()
    for m in messages:
        if m["role"] == "assistant":
            assert pending == set(), "every tool call is answered before the assistant speaks again"
            assert m.get("content") or m.get("tool_calls")
            for call in m.get("tool_calls") or []:
                assert set(call) == {"id", "type", "function"} and call["type"] == "function"
                assert set(call["function"]) == {"name", "arguments"}
                assert isinstance(json.loads(call["function"]["arguments"]), dict)
                pending.add(call["id"])
        elif m["role"] == "tool":
            assert set(m) == {"role", "tool_call_id", "content"} and isinstance(m["content"], str)
            assert m["tool_call_id"] in pending
            pending.discard(m["tool_call_id"])
        else:
            assert isinstance(m["content"], str) and m["content"]
    for tool in example.get("tools", []):
        assert tool["type"] == "function" and tool["function"]["name"]
