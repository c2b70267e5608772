"""What the alert lifecycle hands out: snapshots of alerts, transitions, silences, groups, notices.

Owns: the frozen values the manager returns (no database objects leave it), the states and
notice reasons, and label matching — the one rule that silences, inhibition, filters and
groups share: an alert's *facts* are its labels plus ``rule``, ``kind`` and ``severity``, and a
matcher ``{key: value}`` holds when every key's fact equals its value. Imports no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

AlertState = Literal["firing", "acknowledged", "resolved"]
STATES: tuple[AlertState, ...] = ("firing", "acknowledged", "resolved")
OPEN_STATES: tuple[AlertState, ...] = ("firing", "acknowledged")
NoticeReason = Literal["firing", "resolved", "escalated", "repeat", "warning"]
# alert fields a matcher may name besides labels
ATTRIBUTES = ("rule", "kind", "severity")
SYSTEM = "system"  # who acts when nobody does: automatic opening, resolution, escalation


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _jsonable(obj: object) -> dict[str, Any]:
    out = asdict(obj)  # type: ignore[call-overload]
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in out.items()}


@dataclass(frozen=True)
class Alert:
    """One alert as it is now. Times are naive UTC.

    ``silenced_by`` (silence ids) and ``inhibited_by`` (ids of the alerts inhibiting it) say why
    it raises no notices at the moment it was read; both empty means it is not muted.
    """

    id: int
    fingerprint: str
    rule: str
    kind: str
    severity: str
    state: AlertState
    labels: dict[str, str]
    summary_en: str
    summary_zh: str
    value: float | None
    threshold: float | None
    details: dict[str, Any]
    starts_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    escalation_level: int
    first_notified_at: datetime | None
    last_notified_at: datetime | None
    count: int
    silenced_by: tuple[int, ...] = ()
    inhibited_by: tuple[int, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.state != "resolved"

    @property
    def muted(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by)

    def facts(self) -> dict[str, str]:
        return facts_of(self.rule, self.kind, self.severity, self.labels)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO text, tuples as lists."""
        out = _jsonable(self)
        out["silenced_by"] = list(self.silenced_by)
        out["inhibited_by"] = list(self.inhibited_by)
        return out


@dataclass(frozen=True)
class Transition:
    """One change of an alert. An escalation keeps the state (``from_state == to_state``)."""

    alert_id: int
    from_state: AlertState | None
    to_state: AlertState
    who: str
    at: datetime
    note: str

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class Silence:
    """Matchers under which alerts raise no notices from ``starts_at`` until ``ends_at``."""

    id: int
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    reason: str
    cancelled_at: datetime | None
    cancelled_by: str | None

    def active(self, now: datetime) -> bool:
        ended = self.ends_at if self.cancelled_at is None else min(self.ends_at, self.cancelled_at)
        return self.starts_at <= now < ended

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class Notice:
    """Something to tell people now: an alert snapshot, why, and the group it belongs to."""

    alert: Alert
    reason: NoticeReason
    group: tuple[tuple[str, str], ...] = ()

    @property
    def group_key(self) -> str:
        """``team=support-a,site=sh``: one text per group, for batching and routing."""
        return ",".join(f"{k}={v}" for k, v in self.group)

    def as_dict(self) -> dict[str, Any]:
        return {"alert": self.alert.as_dict(), "reason": self.reason, "group": dict(self.group)}


@dataclass(frozen=True)
class AlertGroup:
    """Alerts sharing the values of the grouping keys (an absent key is the empty text)."""

    key: dict[str, str]
    count: int
    alert_ids: tuple[int, ...]
    states: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "count": self.count,
            "alert_ids": list(self.alert_ids),
            "states": self.states,
        }


def facts_of(rule: str, kind: str, severity: str, labels: Mapping[str, str]) -> dict[str, str]:
    """What matchers see: the labels, with the alert's own fields taking precedence."""
    return {**labels, "rule": rule, "kind": kind, "severity": severity}


def matches(matchers: Mapping[str, str], facts: Mapping[str, str]) -> bool:
    """True when every matcher's key has exactly its value among the facts."""
    return all(facts.get(key) == value for key, value in matchers.items())


def group_of(facts: Mapping[str, str], by: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple((key, facts.get(key, "")) for key in by)
