"""Alert rules and channels from a TOML file, for ``peekr server --alerts alerts.toml``.

Example file::

    [channels.ops]
    type = "slack"
    webhook_url = "https://hooks.slack.com/services/T000/B000/XXXX"

    [channels.pager]
    type = "webhook"
    url = "https://alerts.example.com/peekr"
    headers = { Authorization = "Bearer ..." }

    [[rules]]
    type = "error_rate"
    above = 0.05
    window = "5m"
    by = "model"
    notify = ["ops", "log"]

    [[rules]]
    type = "cost_spike"
    factor = 3
    window = "1h"
    baseline = "1d"
    notify = ["pager"]

Every rule's fields are the keyword arguments of its class in ``peekr.alerts``; ``notify`` names
channels of the file, or ``"log"``. A mistake is reported with the file and the rule's number.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ._channels import Channel, Log, Slack, Webhook
from ._rules import Cost, CostSpike, ErrorRate, LatencyP95, Rule, ScoreBelow, TokenGrowth

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["AlertsFileError", "RULE_TYPES", "load_rules"]

RULE_TYPES: dict[str, type[Rule]] = {
    "error_rate": ErrorRate,
    "latency_p95": LatencyP95,
    "cost": Cost,
    "cost_spike": CostSpike,
    "token_growth": TokenGrowth,
    "score_below": ScoreBelow,
}
_CHANNEL_TYPES: dict[str, type[Channel]] = {"webhook": Webhook, "slack": Slack, "log": Log}


class AlertsFileError(ValueError):
    """The alerts file cannot be used; the message names the file and the entry."""


def load_rules(path: str | Path) -> list[Rule]:
    """The rules of an alerts file (see the module docstring).

    Raises:
        AlertsFileError: Missing file, bad TOML, unknown rule/channel type or name, a bad value.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AlertsFileError(f"{path}: cannot read the alerts file: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AlertsFileError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"rules", "channels"}
    if unknown:
        raise AlertsFileError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; expected [[rules]] and [channels.NAME]"
        )
    channels: dict[str, Channel] = {"log": Log()}
    for name, spec in dict(data.get("channels", {})).items():
        channels[name] = _build(path, f"[channels.{name}]", spec, _CHANNEL_TYPES, "channel")
    rules: list[Rule] = []
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise AlertsFileError(f"{path}: no [[rules]] found")
    for number, spec in enumerate(raw_rules, 1):
        where = f"rule {number}"
        if not isinstance(spec, dict):
            raise AlertsFileError(f"{path}: {where} is not a table")
        spec = dict(spec)
        notify = spec.pop("notify", ["log"])
        if isinstance(notify, str):
            notify = [notify]
        missing = [n for n in notify if n not in channels]
        if missing:
            raise AlertsFileError(
                f"{path}: {where}: unknown channel(s) {', '.join(map(repr, missing))}; "
                f"defined: {', '.join(sorted(channels))}"
            )
        spec["notify"] = [channels[n] for n in notify]
        rules.append(_build(path, where, spec, RULE_TYPES, "rule"))
    return rules


def _build(path: Path, where: str, spec: Any, types: dict[str, type[Any]], what: str) -> Any:
    if not isinstance(spec, dict):
        raise AlertsFileError(f"{path}: {where} is not a table")
    spec = dict(spec)
    kind = spec.pop("type", None)
    cls = types.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise AlertsFileError(f"{path}: {where}: type={kind!r}; expected one of {', '.join(types)}")
    try:
        return cls(**spec)
    except TypeError as exc:
        raise AlertsFileError(f"{path}: {where} ({kind}): {exc}") from None
    except ValueError as exc:
        raise AlertsFileError(f"{path}: {where} ({kind}): {exc}") from None
