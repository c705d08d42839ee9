"""Install lines and install hints name this project's distribution, never ``peekr`` (another PyPI project)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PIP_INSTALL = re.compile(r"pip install ([^`\n#]+)")
HINT = re.compile(r"pip install '([^']+)'")


def _installs_pypi_peekr(args: str) -> bool:
    for arg in shlex.split(args):
        if arg.startswith("-") or "/" in arg or arg.startswith("."):
            continue  # an option, or a local path (a clone of this repository)
        try:
            if Requirement(arg).name.lower() == "peekr":
                return True
        except InvalidRequirement:
            continue
    return False


def test_docs_never_install_the_unrelated_pypi_peekr() -> None:
    wrong = [
        f"{doc.relative_to(ROOT)}: pip install {match.group(1).strip()}"
        for doc in DOCS
        for match in PIP_INSTALL.finditer(doc.read_text(encoding="utf-8"))
        if _installs_pypi_peekr(match.group(1))
    ]
    assert not wrong, "\n".join(wrong)


def test_every_install_hint_in_the_code_names_peekr_sdk() -> None:
    hints = [
        (path.relative_to(ROOT), requirement)
        for path in sorted((ROOT / "peekr").rglob("*.py"))
        for requirement in HINT.findall(path.read_text(encoding="utf-8"))
    ]
    assert len(hints) >= 8  # integrations, server, CLI, OTLP sink, the four judges
    assert [h for h in hints if not h[1].startswith("peekr-sdk[")] == []


def test_the_check_sees_a_pypi_peekr_install() -> None:
    assert _installs_pypi_peekr('"peekr[openai]"        # or [anthropic]')
    assert _installs_pypi_peekr("-U peekr")
    assert not _installs_pypi_peekr('-e "/path/to/peekr-clone[openai]"')
    assert not _installs_pypi_peekr('"peekr-sdk[server]"')
