"""The Peekr web UI: one app, served by ``peekr server`` (log in with a read key) and ``peekr ui`` (local file)."""

from __future__ import annotations

__all__: list[str] = []
