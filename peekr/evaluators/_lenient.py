"""Read a judge's JSON answer leniently: small local models honour a JSON schema loosely."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["loads_lenient"]

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def loads_lenient(text: str) -> Any:
    """JSON from a judge that honours the schema loosely: a ```json fence, prose around the object.

    Raises:
        ValueError: No JSON object in the text (or only a truncated one).
    """
    text = _FENCE.sub("", text.strip())
    try:
        return json.loads(text)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("no complete JSON object in the answer" + (" (truncated?)" if "{" in text else ""))
