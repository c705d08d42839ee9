"""The minimum SDK version check reads versions as PEP 440 does: a pre-release sorts before its release."""

from __future__ import annotations

from pathlib import Path

import pytest

import peekr
from peekr.integrations import _older_than


@pytest.mark.parametrize(
    ("installed", "minimum", "older"),
    [
        ("1.66.0rc1", "1.66.0", True),  # read as (1, 66, 1) before: a release candidate passed as newer
        ("1.66.0rc1", "1.66", True),
        ("2.0.0.dev3", "2.0.0", True),
        ("2.0.0a1", "2.0.0", True),
        ("1.65.9", "1.66.0", True),
        ("1.66", "1.66.0", False),
        ("1.66.0", "1.66.0", False),
        ("1.66.0.post1", "1.66.0", False),
        ("1.67.0rc1", "1.66.0", False),
        ("1.100.0", "1.66.0", False),
        ("not a version", "1.66.0", False),  # unknown schemes are not held against the SDK
    ],
)
def test_older_than(installed: str, minimum: str, older: bool) -> None:
    assert _older_than(installed, minimum) is older


def _shadow_anthropic_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """Make importlib.metadata report ``version`` for anthropic (the real package still imports)."""
    info = tmp_path / "shadow" / f"anthropic-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: anthropic\nVersion: {version}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "shadow"))


def test_release_candidate_of_the_minimum_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _shadow_anthropic_version(tmp_path, monkeypatch, "2.0.0rc1")  # the integration needs anthropic>=2.0.0
    with pytest.raises(ModuleNotFoundError, match=r"needs anthropic>=2\.0\.0, found 2\.0\.0rc1"):
        peekr.instrument(storage="none", providers=["anthropic"])


def test_release_candidate_above_the_minimum_is_instrumented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _shadow_anthropic_version(tmp_path, monkeypatch, "2.1.0rc1")
    assert peekr.instrument(storage="none", providers=["anthropic"]).providers == ["anthropic"]
