"""Alerts: rules over sliding windows of what Peekr records, sent to logs, webhooks or Slack.

Example:
    >>> import peekr
    >>> from peekr import alerts
    >>> peekr.instrument(alerts=[
    ...     alerts.ErrorRate(above=0.05, window="5m", by="model"),
    ...     alerts.LatencyP95(above_ms=8000, window="5m"),
    ...     alerts.CostSpike(factor=3, window="1h", baseline="1d", notify=[alerts.Slack(SLACK_URL)]),
    ...     alerts.ScoreBelow(evaluator="hallucination", below=0.7, window="1h"),
    ... ])

Rules are judged on Peekr's bus thread and alerts delivered from their own thread, never on your
call's path. The same rules run inside ``peekr server --alerts alerts.toml``. See docs/alerts.md.
"""

from __future__ import annotations

from ._alert import Alert as Alert
from ._channels import Channel as Channel
from ._channels import Log as Log
from ._channels import Slack as Slack
from ._channels import Webhook as Webhook
from ._engine import AlertStats as AlertStats
from ._rules import Cost as Cost
from ._rules import CostSpike as CostSpike
from ._rules import ErrorRate as ErrorRate
from ._rules import LatencyP95 as LatencyP95
from ._rules import Rule as Rule
from ._rules import ScoreBelow as ScoreBelow
from ._rules import TokenGrowth as TokenGrowth

__all__ = [
    "Alert",
    "AlertStats",
    "Channel",
    "Cost",
    "CostSpike",
    "ErrorRate",
    "LatencyP95",
    "Log",
    "Rule",
    "ScoreBelow",
    "Slack",
    "TokenGrowth",
    "Webhook",
]

for _name in __all__:
    globals()[_name].__module__ = "peekr.alerts"
del _name
