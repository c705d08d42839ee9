"""A provider SDK that is not installed: ``instrument()`` skips it, naming it raises one clear line.

google-genai lives in the ``google`` namespace package; without any ``google`` package installed,
``importlib.util.find_spec("google.genai")`` raises instead of returning None, and that crashed
``instrument()`` for everyone who installed only the openai, anthropic or bedrock extra. The
subprocess blocks ``google`` the way a venv without it behaves (tests/install tries real venvs).
"""

from __future__ import annotations

import json
import subprocess
import sys

from peekr.integrations import INTEGRATIONS

SCRIPT = """
import json, sys
sys.modules["google"] = None  # as if no google package were installed: importing it fails
import peekr

report = {"auto": peekr.instrument(storage="none").providers}
peekr.shutdown()
try:
    peekr.instrument(storage="none", providers=["gemini"])
except ModuleNotFoundError as exc:
    report["named"] = str(exc)
print(json.dumps(report))
"""


def test_without_google_instrument_skips_gemini_and_naming_it_says_what_to_install() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["auto"] == [name for name in INTEGRATIONS if name != "gemini"]  # every other one (dev venv)
    assert report["named"] == (
        "peekr: provider 'gemini' needs the 'google-genai' package: pip install 'peekr-sdk[gemini]'"
    )
