"""instrument() after uninstrument() on a running peekr patches the SDKs again."""

from __future__ import annotations

import pytest

import peekr
from peekr.integrations._base import is_patched

pytest.importorskip("openai")


def test_instrument_after_uninstrument_patches_again() -> None:
    from openai.resources.chat.completions.completions import Completions

    handle = peekr.instrument(storage="memory")
    assert is_patched(Completions, "create")
    assert peekr.uninstrument() > 0
    assert not is_patched(Completions, "create")
    assert peekr.instrument(storage="memory") is handle
    assert is_patched(Completions, "create")
    assert "openai" in handle.providers
