"""What a notification says: the alert message and its text in Chinese, English or both.

Owns: :class:`AlertMessage` (built from a :class:`~servq.monitor.signals.Signal`, or from a
notice of the alert manager with :func:`message_from_notice`), and :func:`compose`, which turns
a message into neutral pieces (title, summary lines, labelled fields, link) in a channel's
language and time zone. The per-service formats in ``render`` only arrange these pieces; no
sentence is written anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, get_args
from zoneinfo import ZoneInfo

from servq.monitor.signals import SEVERITIES, Severity, Signal

if TYPE_CHECKING:
    from servq.monitor.alerts.model import Notice

AlertState = Literal["firing", "resolved", "escalated", "repeat", "acknowledged", "warning"]
ALERT_STATES: tuple[str, ...] = get_args(AlertState)
Language = Literal["zh", "en", "both"]

# (中文, English) for every word a reader sees
STATE_WORDS: dict[str, tuple[str, str]] = {
    "firing": ("告警", "FIRING"),
    "resolved": ("已恢复", "RESOLVED"),
    "escalated": ("已升级", "ESCALATED"),
    "repeat": ("仍在告警", "STILL FIRING"),
    "acknowledged": ("已确认", "ACKNOWLEDGED"),
    "warning": ("预警", "WARNING"),
}
SEVERITY_WORDS: dict[str, tuple[str, str]] = {
    "info": ("提示", "info"),
    "warning": ("警告", "warning"),
    "critical": ("严重", "critical"),
}
FIELD_WORDS: dict[str, tuple[str, str]] = {
    "rule": ("规则", "Rule"),
    "labels": ("范围", "Scope"),
    "value": ("当前值", "Value"),
    "threshold": ("阈值", "Threshold"),
    "since": ("开始时间", "Since"),
    "alert_id": ("告警编号", "Alert ID"),
    "link": ("查看详情", "Open"),
}
# colour of the message by state (resolved) or severity, in the names chat cards use
COLOURS = {"resolved": "green", "critical": "red", "warning": "orange", "info": "blue"}


@dataclass(frozen=True, kw_only=True)
class AlertMessage:
    """One alert at one moment of its life, as every channel receives it.

    ``starts_at`` is naive UTC; ``value`` and ``threshold`` are in the rule's unit.
    """

    fingerprint: str
    alert_id: str
    rule: str
    severity: Severity
    state: AlertState
    labels: dict[str, str] = field(default_factory=dict)
    summary_en: str
    summary_zh: str
    value: float | None = None
    threshold: float | None = None
    starts_at: datetime
    url: str | None = None

    @classmethod
    def from_signal(
        cls,
        signal: Signal,
        *,
        alert_id: str | None = None,
        state: AlertState | None = None,
        starts_at: datetime | None = None,
        url: str | None = None,
    ) -> AlertMessage:
        """The message of a signal: firing or resolved by the signal unless ``state`` says."""
        return cls(
            fingerprint=signal.fingerprint,
            alert_id=alert_id or signal.fingerprint,
            rule=signal.rule,
            severity=signal.severity,
            state=state or ("firing" if signal.firing else "resolved"),
            labels=dict(signal.labels),
            summary_en=signal.summary_en,
            summary_zh=signal.summary_zh,
            value=signal.value,
            threshold=signal.threshold,
            starts_at=starts_at or signal.at,
            url=url,
        )

    def to_json(self) -> dict[str, object]:
        """The message as JSON-ready data; times in ISO 8601 with ``Z`` (UTC)."""
        return {
            "fingerprint": self.fingerprint,
            "alert_id": self.alert_id,
            "rule": self.rule,
            "severity": self.severity,
            "state": self.state,
            "labels": dict(self.labels),
            "summary_en": self.summary_en,
            "summary_zh": self.summary_zh,
            "value": self.value,
            "threshold": self.threshold,
            "starts_at": iso_utc(self.starts_at),
            "url": self.url,
        }


def message_from_notice(notice: Notice, *, url: str | None = None) -> AlertMessage:
    """The message of an alert manager notice: its reason is the message's state."""
    alert = notice.alert
    severity: Severity = alert.severity if alert.severity in SEVERITIES else "warning"
    return AlertMessage(
        fingerprint=alert.fingerprint,
        alert_id=str(alert.id),
        rule=alert.rule,
        severity=severity,
        state=notice.reason,
        labels=dict(alert.labels),
        summary_en=alert.summary_en,
        summary_zh=alert.summary_zh,
        value=alert.value,
        threshold=alert.threshold,
        starts_at=alert.starts_at,
        url=url,
    )


@dataclass(frozen=True)
class Composed:
    """A message's text in one language: what each service format arranges."""

    title: str
    summary: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]
    link: tuple[str, str] | None
    colour: str


def iso_utc(moment: datetime) -> str:
    """A naive UTC time as ``2025-10-20T08:00:00Z``."""
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def pick(language: Language, words: tuple[str, str], joiner: str = " ") -> str:
    """The Chinese word, the English word, or both joined."""
    zh, en = words
    return zh if language == "zh" else en if language == "en" else f"{zh}{joiner}{en}"


def number_text(value: float) -> str:
    """A number without float noise: 3600.0 → ``3600``, 0.8125 → ``0.8125``."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def local_time(moment: datetime, timezone: str) -> str:
    """A naive UTC time shown in ``timezone``: ``2025-10-20 16:00 (Asia/Shanghai)``."""
    shown = moment.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone))
    return f"{shown:%Y-%m-%d %H:%M} ({timezone})"


def title(message: AlertMessage, language: Language) -> str:
    """``【严重 critical】告警 FIRING：rule`` (the brackets follow the language)."""
    severity = pick(language, SEVERITY_WORDS[message.severity])
    state = pick(language, STATE_WORDS[message.state])
    if language == "en":
        return f"[{severity}] {state}: {message.rule}"
    return f"【{severity}】{state}：{message.rule}"


def summary_lines(message: AlertMessage, language: Language) -> tuple[str, ...]:
    """The summary sentences in the channel's language; the other language if one is empty."""
    wanted = {"zh": [message.summary_zh], "en": [message.summary_en]}.get(
        language, [message.summary_zh, message.summary_en]
    )
    lines = [s for s in wanted if s] or [s for s in (message.summary_zh, message.summary_en) if s]
    return tuple(lines)


def _fields(message: AlertMessage, language: Language, timezone: str) -> list[tuple[str, str]]:
    label = {key: pick(language, words) for key, words in FIELD_WORDS.items()}
    out = [(label["rule"], message.rule)]
    if message.labels:
        scope = ", ".join(f"{k}={v}" for k, v in sorted(message.labels.items()))
        out.append((label["labels"], scope))
    if message.value is not None:
        out.append((label["value"], number_text(message.value)))
    if message.threshold is not None:
        out.append((label["threshold"], number_text(message.threshold)))
    out.append((label["since"], local_time(message.starts_at, timezone)))
    out.append((label["alert_id"], message.alert_id))
    return out


def compose(message: AlertMessage, language: Language, timezone: str = "UTC") -> Composed:
    """The pieces of a message's text in ``language``, times shown in ``timezone``."""
    link = (pick(language, FIELD_WORDS["link"]), message.url) if message.url else None
    colour = COLOURS["resolved" if message.state == "resolved" else message.severity]
    return Composed(
        title=title(message, language),
        summary=summary_lines(message, language),
        fields=tuple(_fields(message, language, timezone)),
        link=link,
        colour=colour,
    )
