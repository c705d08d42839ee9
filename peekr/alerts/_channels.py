"""Where alerts go: the ``logging`` module, a JSON webhook, a Slack incoming webhook.

Channels run on the alert delivery thread (never the caller's, never the bus's), one alert at a
time, with retries and a timeout; an alert that still cannot be delivered is counted as dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._alert import Alert

if TYPE_CHECKING:
    import httpx

__all__ = ["Channel", "Log", "Slack", "Webhook"]


class Channel:
    """Base of every channel: ``send(alert, client)`` raises when delivery failed (then retried)."""

    #: Attempts per alert (the first one included) before it counts as dropped.
    attempts: int = 1

    def send(self, alert: Alert, client: httpx.Client) -> None:
        """Deliver one alert."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        """The channel in ``stats()`` and log lines."""
        return type(self).__name__.lower()


def _check_url(name: str, url: object) -> str:
    if not isinstance(url, str):
        raise TypeError(f"{name} must be a URL string, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name}={url!r} is not an http(s) URL")
    return url


@dataclass(frozen=True)
class Log(Channel):
    """Log each alert on the ``peekr.alerts`` logger (default level WARNING)."""

    level: int = logging.WARNING

    def send(self, alert: Alert, client: httpx.Client) -> None:
        logging.getLogger("peekr.alerts").log(self.level, "peekr alert: %s", alert.text)


@dataclass(frozen=True)
class Webhook(Channel):
    """POST each alert as JSON (``Alert.to_dict()``, see docs/alerts.md) to ``url``.

    Args:
        url: The receiver; any 2xx answer counts as delivered.
        headers: Extra headers, e.g. ``{"Authorization": "Bearer ..."}``.
        timeout: Seconds per attempt.
        attempts: Tries per alert, with 0.5 s, 1 s, 2 s... between them.
    """

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    attempts: int = 3

    def __post_init__(self) -> None:
        _check_url("url", self.url)
        _check_attempts(self.attempts, self.timeout)

    def send(self, alert: Alert, client: httpx.Client) -> None:
        response = client.post(self.url, json=alert.to_dict(), headers=self.headers, timeout=self.timeout)
        response.raise_for_status()

    @property
    def label(self) -> str:
        return f"webhook {urlsplit(self.url).netloc}"


@dataclass(frozen=True)
class Slack(Channel):
    """Post each alert to a Slack incoming webhook (``https://hooks.slack.com/services/...``)."""

    webhook_url: str
    timeout: float = 5.0
    attempts: int = 3

    def __post_init__(self) -> None:
        _check_url("webhook_url", self.webhook_url)
        _check_attempts(self.attempts, self.timeout)

    def send(self, alert: Alert, client: httpx.Client) -> None:
        payload: dict[str, Any] = {"text": f":rotating_light: *{alert.title}*\n{alert.text}"}
        response = client.post(self.webhook_url, json=payload, timeout=self.timeout)
        response.raise_for_status()

    @property
    def label(self) -> str:
        return "slack"


def _check_attempts(attempts: object, timeout: object) -> None:
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts must be an int >= 1, got {attempts!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
