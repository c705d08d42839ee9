"""``Alert``: what fired, as every channel receives it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["Alert"]


@dataclass(frozen=True)
class Alert:
    """One alert, as channels receive it (``to_dict()`` is the webhook's JSON body)."""

    rule: str
    kind: str
    group_by: str | None
    group: str | None
    tenant_id: str | None
    value: float
    threshold: float
    message: str
    fired_at: float

    @property
    def title(self) -> str:
        """``error rate > 5% over 5m (model=gpt-4o, tenant=acme)``."""
        scope = [f"{self.group_by}={self.group}"] if self.group_by else []
        if self.tenant_id is not None and self.group_by != "tenant":
            scope.append(f"tenant={self.tenant_id}")
        return self.rule + (f" ({', '.join(scope)})" if scope else "")

    @property
    def text(self) -> str:
        """Title and message on one line."""
        return f"{self.title}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON a webhook receives."""
        return {
            "source": "peekr",
            "rule": self.rule,
            "kind": self.kind,
            "group_by": self.group_by,
            "group": self.group,
            "tenant_id": self.tenant_id,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "title": self.title,
            "fired_at": datetime.fromtimestamp(self.fired_at, timezone.utc).isoformat().replace("+00:00", "Z"),
        }
