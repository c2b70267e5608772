"""The alert lifecycle: signals in, alerts kept in the application store, notices out.

Owns: :class:`AlertManager`. A firing signal opens an alert or updates the open one of its
fingerprint; a clearing signal resolves it (who = ``system``); people acknowledge and resolve;
:meth:`AlertManager.tick` escalates what nobody acknowledged and repeats what still fires.
Every change is a row of ``alert_transition``. Notices are returned, never sent: delivering
them is :mod:`servq.monitor.notify`'s job. Every method takes ``now`` (naive UTC).

Several managers (threads or processes) may share one store. Each call is one transaction.
Rows are changed only after being read with ``SELECT ... FOR UPDATE`` (PostgreSQL locks them;
the store begins SQLite transactions with ``BEGIN IMMEDIATE``, which serialises writers), so no
update is lost. What a lock cannot cover is a row that does not exist yet: two managers may both
find no open alert for a fingerprint and both insert one. The UNIQUE ``open_fingerprint``
refuses the second; its transaction is then run again from the start and updates the winner's
alert. PostgreSQL deadlocks and serialisation failures are retried the same way.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from servq.app_store import Store
from servq.errors import ServqError
from servq.monitor.alerts.model import (
    OPEN_STATES,
    STATES,
    SYSTEM,
    Alert,
    AlertGroup,
    Notice,
    NoticeReason,
    Silence,
    Transition,
    facts_of,
    group_of,
)
from servq.monitor.alerts.muting import Mutes
from servq.monitor.alerts.policy import AlertPolicy, span_text
from servq.monitor.alerts.tables import AlertRow, AlertTransitionRow, SilenceRow
from servq.monitor.signals import SEVERITIES, Signal

T = TypeVar("T")
STATE_FILTERS = (*STATES, "open", "all")
# PostgreSQL: serialization failure, deadlock detected; both mean "run the transaction again"
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})


class AlertError(ServqError):
    """An alert or silence that does not exist, or a change its state does not allow."""


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _lost_race(exc: Exception) -> bool:
    """Whether a failed transaction is worth running again (another writer got there first)."""
    orig = getattr(exc, "orig", None)
    if isinstance(exc, IntegrityError):
        return "open_fingerprint" in str(orig)
    return getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES


def _plain(details: dict[str, object]) -> dict[str, Any]:
    """Signal details as JSON values (times and other objects become text)."""
    plain: dict[str, Any] = json.loads(json.dumps(details, default=str, ensure_ascii=False))
    return plain


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


def _row_facts(row: AlertRow) -> dict[str, str]:
    return facts_of(row.rule, row.kind, row.severity, row.labels)


def _first_reason(kind: str) -> NoticeReason:
    """The first notice of an alert: an SLA at risk is a warning, anything else fires."""
    return "warning" if kind == "sla_warning" else "firing"


def _raises(row: AlertRow, signal: Signal) -> bool:
    """A signal that makes an open alert more serious: a higher severity, or an SLA warning
    that became a breach (or any other kind)."""
    higher = SEVERITIES.index(signal.severity) > SEVERITIES.index(row.severity)
    return higher or (row.kind == "sla_warning" and signal.kind != "sla_warning")


class AlertManager:
    """Alerts of one application store under one :class:`AlertPolicy`.

    >>> manager = AlertManager(open_store("servq-data"))            # doctest: +SKIP
    >>> notices = manager.process(signals, now)                     # doctest: +SKIP
    >>> notices += manager.tick(now)                                # doctest: +SKIP
    """

    def __init__(self, store: Store, policy: AlertPolicy | None = None, *, attempts: int = 10):
        self.store = store
        self.policy = policy or AlertPolicy()
        self._attempts = attempts

    # -- transactions ---------------------------------------------------------------------------
    def _transact(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction, again from the start when it lost a race."""
        for attempt in range(1, self._attempts + 1):
            try:
                with self.store.session() as session:
                    return work(session)
            except (IntegrityError, OperationalError) as exc:
                if attempt == self._attempts or not _lost_race(exc):
                    raise
                time.sleep(random.uniform(0, 0.002 * attempt))  # let the winner finish
        raise AssertionError("unreachable")

    def _mutes(self, session: Session, now: datetime, open_rows: Sequence[AlertRow]) -> Mutes:
        silences = session.scalars(
            select(SilenceRow).where(SilenceRow.starts_at <= now, SilenceRow.ends_at > now)
        )
        mutes = Mutes([_silence(row) for row in silences], self.policy.inhibit, now)
        for row in open_rows:
            mutes.opened(row.id, _row_facts(row))
        return mutes

    def _load_mutes(self, session: Session, now: datetime) -> Mutes:
        open_rows: Sequence[AlertRow] = []
        if self.policy.inhibit:  # only inhibition needs the open alerts
            query = select(AlertRow).where(AlertRow.state.in_(OPEN_STATES))
            open_rows = session.scalars(query).all()
        return self._mutes(session, now, open_rows)

    def _record(
        self,
        session: Session,
        row: AlertRow,
        to_state: str,
        who: str,
        at: datetime,
        note: str,
        *,
        from_state: str | None = None,
    ) -> None:
        session.add(
            AlertTransitionRow(
                alert_id=row.id, from_state=from_state, to_state=to_state, who=who, at=at, note=note
            )
        )

    def _snapshot(self, row: AlertRow, mutes: Mutes | None) -> Alert:
        alert = _alert(row)
        if mutes is None or not alert.is_open:
            return alert
        facts = alert.facts()
        return replace(
            alert,
            silenced_by=mutes.silenced_by(facts),
            inhibited_by=mutes.inhibited_by(alert.id, facts),
        )

    def _notice(
        self, row: AlertRow, reason: NoticeReason, mutes: Mutes, now: datetime
    ) -> list[Notice]:
        """The notice for ``row`` unless it is muted; firing, warning and repeat notices
        restart the repeat interval."""
        if self._snapshot(row, mutes).muted:
            return []
        if reason in ("firing", "warning", "repeat"):
            row.first_notified_at = row.first_notified_at or now
            row.last_notified_at = now
        return [self._make(self._snapshot(row, mutes), reason)]

    def _make(self, alert: Alert, reason: NoticeReason) -> Notice:
        return Notice(alert, reason, group_of(alert.facts(), self.policy.group_by))

    # -- signals --------------------------------------------------------------------------------
    def process(self, signals: Iterable[Signal], now: datetime) -> list[Notice]:
        """Apply signals in order; return the notices to send now."""
        batch = list(signals)
        if not batch:
            return []
        now = _naive_utc(now)
        return self._transact(lambda session: self._apply_all(session, batch, now))

    def _apply_all(self, session: Session, batch: list[Signal], now: datetime) -> list[Notice]:
        mutes = self._load_mutes(session, now)
        notices: list[Notice] = []
        for signal in batch:
            notices += self._apply(session, signal, mutes, now)
        return notices

    def _apply(self, session: Session, signal: Signal, mutes: Mutes, now: datetime) -> list[Notice]:
        row = self._open_row(session, signal.fingerprint)
        if signal.firing:
            if row is None:
                return self._open(session, signal, mutes, now)
            return self._update(session, row, signal, mutes, now)
        # a clearing signal older than the last firing one is stale: the condition came back
        if row is None or _naive_utc(signal.at) < row.last_seen_at:
            return []
        return self._auto_resolve(session, row, signal, mutes, now)

    def _open_row(self, session: Session, fingerprint: str) -> AlertRow | None:
        """The open alert of a fingerprint, locked (PostgreSQL) until the transaction ends."""
        query = select(AlertRow).where(AlertRow.open_fingerprint == fingerprint)
        return session.scalars(query.with_for_update()).one_or_none()

    def _open(self, session: Session, signal: Signal, mutes: Mutes, now: datetime) -> list[Notice]:
        at = _naive_utc(signal.at)
        row = AlertRow(
            fingerprint=signal.fingerprint,
            open_fingerprint=signal.fingerprint,
            rule=signal.rule,
            kind=signal.kind,
            severity=signal.severity,
            state="firing",
            labels=dict(signal.labels),
            summary_en=signal.summary_en,
            summary_zh=signal.summary_zh,
            value=_number(signal.value),
            threshold=_number(signal.threshold),
            details=_plain(signal.details),
            starts_at=at,
            last_seen_at=at,
            escalation_level=0,
            count=1,
        )
        session.add(row)
        session.flush()  # another process that opened this fingerprint first fails us here
        self._record(session, row, "firing", SYSTEM, at, "opened / 告警触发")
        mutes.opened(row.id, _row_facts(row))
        return self._notice(row, _first_reason(row.kind), mutes, now)

    def _update(
        self, session: Session, row: AlertRow, signal: Signal, mutes: Mutes, now: datetime
    ) -> list[Notice]:
        at = _naive_utc(signal.at)
        row.count += 1
        if at >= row.last_seen_at:
            row.last_seen_at = at
            row.value, row.threshold = _number(signal.value), _number(signal.threshold)
            row.summary_en, row.summary_zh = signal.summary_en, signal.summary_zh
            row.details = _plain(signal.details)
        if not _raises(row, signal):
            return []
        note = (
            f"raised from {row.kind}/{row.severity} to {signal.kind}/{signal.severity} / "
            f"告警升级为 {signal.kind}/{signal.severity}"
        )
        row.kind, row.severity = signal.kind, signal.severity
        self._record(session, row, row.state, SYSTEM, at, note, from_state=row.state)
        mutes.closed(row.id)
        mutes.opened(row.id, _row_facts(row))
        return self._notice(row, "firing", mutes, now)

    def _close(self, session: Session, row: AlertRow, who: str, at: datetime, note: str) -> None:
        from_state = row.state
        row.state = "resolved"
        row.resolved_at, row.resolved_by = at, who
        row.open_fingerprint = None
        self._record(session, row, "resolved", who, at, note, from_state=from_state)

    def _auto_resolve(
        self, session: Session, row: AlertRow, signal: Signal, mutes: Mutes, now: datetime
    ) -> list[Notice]:
        muted = self._snapshot(row, mutes).muted  # as it was while open
        self._close(session, row, SYSTEM, _naive_utc(signal.at), "condition cleared / 条件已恢复")
        mutes.closed(row.id)
        # only those told it fired hear that it resolved, and not while it is muted
        if row.first_notified_at is None or muted:
            return []
        return [self._make(self._snapshot(row, None), "resolved")]

    # -- time -----------------------------------------------------------------------------------
    def tick(self, now: datetime) -> list[Notice]:
        """Notices due at ``now``: a firing notice held back while the alert was muted, repeat
        reminders every ``repeat_interval`` and escalations after ``escalate_after``; all only
        for alerts still firing, unacknowledged and not muted."""
        now = _naive_utc(now)
        return self._transact(lambda session: self._tick(session, now))

    def _tick(self, session: Session, now: datetime) -> list[Notice]:
        open_rows = list(
            session.scalars(
                select(AlertRow)
                .where(AlertRow.state.in_(OPEN_STATES))
                .order_by(AlertRow.id)
                .with_for_update()
            )
        )
        mutes = self._mutes(session, now, open_rows)
        notices: list[Notice] = []
        for row in open_rows:
            if row.state == "firing":
                notices += self._remind(row, mutes, now)
                notices += self._escalate(session, row, mutes, now)
        return notices

    def _remind(self, row: AlertRow, mutes: Mutes, now: datetime) -> list[Notice]:
        if row.first_notified_at is None:  # held back while muted: owed now (if no longer)
            return self._notice(row, _first_reason(row.kind), mutes, now)
        interval, last = self.policy.repeat_interval, row.last_notified_at
        if interval is None or last is None or now < last + interval:
            return []
        return self._notice(row, "repeat", mutes, now)

    def _escalate(
        self, session: Session, row: AlertRow, mutes: Mutes, now: datetime
    ) -> list[Notice]:
        """One notice per escalation level newly reached; levels count from the first notice,
        so an alert muted from the start escalates only after people were told."""
        told = row.first_notified_at
        if told is None or self._snapshot(row, mutes).muted:
            return []
        spans = self.policy.escalate_after
        due = sum(1 for span in spans if told + span <= now)
        notices: list[Notice] = []
        for level in range(row.escalation_level + 1, due + 1):
            row.escalation_level = level
            within = span_text(spans[level - 1])
            note = (
                f"escalated to level {level}: not acknowledged within {within} / "
                f"升级至第 {level} 级：{within} 内无人确认"
            )
            self._record(session, row, "firing", SYSTEM, now, note, from_state="firing")
            notices += self._notice(row, "escalated", mutes, now)
        return notices

    # -- people ---------------------------------------------------------------------------------
    def _locked(self, session: Session, alert_id: int) -> AlertRow:
        row = session.scalars(
            select(AlertRow).where(AlertRow.id == alert_id).with_for_update()
        ).one_or_none()
        if row is None:
            raise AlertError(f"no alert {alert_id} / 没有编号为 {alert_id} 的告警")
        return row

    def ack(self, alert_id: int, who: str, now: datetime, note: str = "") -> Alert:
        """Someone takes the alert: no more repeats or escalations. Only a firing alert."""
        now = _naive_utc(now)

        def work(session: Session) -> Alert:
            row = self._locked(session, alert_id)
            if row.state != "firing":
                raise AlertError(_not_firing(row))
            row.state = "acknowledged"
            row.acknowledged_at, row.acknowledged_by = now, who
            self._record(session, row, "acknowledged", who, now, note, from_state="firing")
            return self._snapshot(row, self._load_mutes(session, now))

        return self._transact(work)

    def resolve(self, alert_id: int, who: str, now: datetime, note: str = "") -> Alert:
        """Close an open alert by hand; if the condition still holds, its next firing signal
        opens a new alert."""
        now = _naive_utc(now)

        def work(session: Session) -> Alert:
            row = self._locked(session, alert_id)
            if row.state == "resolved":
                at = _text(row.resolved_at)
                raise AlertError(
                    f"alert {alert_id} was already resolved by {row.resolved_by} at {at} UTC / "
                    f"告警 {alert_id} 已由 {row.resolved_by} 于 {at}（UTC）解决"
                )
            self._close(session, row, who, now, note)
            return self._snapshot(row, None)

        return self._transact(work)

    def silence(
        self,
        matchers: dict[str, str],
        until: datetime,
        who: str,
        now: datetime,
        reason: str = "",
    ) -> int:
        """Mute notices of alerts matching every ``{label: value}`` (``rule``, ``kind`` and
        ``severity`` name the alert's own fields) from ``now`` until ``until``; returns the
        silence's id. Alerts are still recorded and updated meanwhile."""
        now, until = _naive_utc(now), _naive_utc(until)
        if not matchers:
            raise AlertError("a silence needs at least one matcher / 静默至少需要一个匹配条件")
        if until <= now:
            raise AlertError(
                f"a silence must end after now ({_text(now)} UTC) / "
                f"静默的结束时间必须晚于现在（{_text(now)} UTC）"
            )

        def work(session: Session) -> int:
            row = SilenceRow(
                matchers={str(k): str(v) for k, v in matchers.items()},
                starts_at=now,
                ends_at=until,
                created_by=who,
                reason=reason,
            )
            session.add(row)
            session.flush()
            return row.id

        return self._transact(work)

    def unsilence(self, silence_id: int, who: str, now: datetime) -> Silence:
        """End a silence now; held-back notices come with the next :meth:`tick`."""
        now = _naive_utc(now)

        def work(session: Session) -> Silence:
            row = session.get(SilenceRow, silence_id)
            if row is None:
                raise AlertError(f"no silence {silence_id} / 没有编号为 {silence_id} 的静默")
            if not _silence(row).active(now):
                raise AlertError(
                    f"silence {silence_id} is not in force / 静默 {silence_id} 当前未生效"
                )
            row.cancelled_at, row.cancelled_by = now, who
            return _silence(row)

        return self._transact(work)

    # -- reading --------------------------------------------------------------------------------
    def get(self, alert_id: int, *, now: datetime | None = None) -> Alert:
        with self.store.session() as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                raise AlertError(f"no alert {alert_id} / 没有编号为 {alert_id} 的告警")
            mutes = None if now is None else self._load_mutes(session, _naive_utc(now))
            return self._snapshot(row, mutes)

    def transitions(self, alert_id: int) -> list[Transition]:
        """Every change of an alert, oldest first."""
        with self.store.session() as session:
            if session.get(AlertRow, alert_id) is None:
                raise AlertError(f"no alert {alert_id} / 没有编号为 {alert_id} 的告警")
            rows = session.scalars(
                select(AlertTransitionRow)
                .where(AlertTransitionRow.alert_id == alert_id)
                .order_by(AlertTransitionRow.id)
            )
            return [_transition(row) for row in rows]

    def silences(self, now: datetime | None = None) -> list[Silence]:
        """Every silence, newest first; with ``now``, only those in force then."""
        with self.store.session() as session:
            rows = session.scalars(select(SilenceRow).order_by(SilenceRow.id.desc()))
            found = [_silence(row) for row in rows]
        return found if now is None else [s for s in found if s.active(_naive_utc(now))]

    def groups(
        self, by: Sequence[str] | None = None, state: str | None = "open"
    ) -> list[AlertGroup]:
        """Alerts counted by the values of ``by`` (default: the policy's ``group_by``), largest
        group first; each group lists its alert ids and its count per state."""
        keys = tuple(by) if by is not None else self.policy.group_by
        members: dict[tuple[tuple[str, str], ...], list[AlertRow]] = {}
        with self.store.session() as session:
            query = select(AlertRow).where(*_conditions(state)).order_by(AlertRow.id)
            for row in session.scalars(query):
                members.setdefault(group_of(_row_facts(row), keys), []).append(row)
        found = [
            AlertGroup(
                key=dict(key),
                count=len(rows),
                alert_ids=tuple(r.id for r in rows),
                states=dict(Counter(r.state for r in rows)),
            )
            for key, rows in members.items()
        ]
        return sorted(found, key=lambda g: (-g.count, sorted(g.key.items())))

    # `list` comes last: defined earlier, it would shadow the builtin in annotations
    def list(
        self,
        state: str | None = None,
        rule: str | None = None,
        labels: dict[str, str] | None = None,
        limit: int | None = 200,
        *,
        now: datetime | None = None,
    ) -> list[Alert]:
        """Alerts, newest first. ``state``: firing, acknowledged, resolved, ``open`` (the first
        two) or ``all``/None. ``labels``: equality on each. With ``now``, open alerts say which
        silences and alerts mute them (``silenced_by``, ``inhibited_by``)."""
        query = (
            select(AlertRow)
            .where(*_conditions(state, rule, labels))
            .order_by(AlertRow.starts_at.desc(), AlertRow.id.desc())
            .limit(limit)
        )
        with self.store.session() as session:
            mutes = None if now is None else self._load_mutes(session, _naive_utc(now))
            return [self._snapshot(row, mutes) for row in session.scalars(query)]


def _conditions(
    state: str | None, rule: str | None = None, labels: dict[str, str] | None = None
) -> list[ColumnElement[bool]]:
    """WHERE clauses of a listing; labels compare as JSON text (SQLite and PostgreSQL alike)."""
    if state not in (None, *STATE_FILTERS):
        raise AlertError(
            f"unknown state '{state}': use {', '.join(STATE_FILTERS)} / 未知状态 '{state}'"
        )
    found: list[ColumnElement[bool]] = []
    if state == "open":
        found.append(AlertRow.state.in_(OPEN_STATES))
    elif state in STATES:
        found.append(AlertRow.state == state)
    if rule is not None:
        found.append(AlertRow.rule == rule)
    found += [AlertRow.labels[key].as_string() == value for key, value in (labels or {}).items()]
    return found


def _text(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"


def _not_firing(row: AlertRow) -> str:
    if row.state == "acknowledged":
        at = _text(row.acknowledged_at)
        return (
            f"alert {row.id} was already acknowledged by {row.acknowledged_by} at {at} UTC / "
            f"告警 {row.id} 已由 {row.acknowledged_by} 于 {at}（UTC）确认"
        )
    return f"alert {row.id} is resolved: nothing to acknowledge / 告警 {row.id} 已解决，无需确认"


def _alert(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        fingerprint=row.fingerprint,
        rule=row.rule,
        kind=row.kind,
        severity=row.severity,
        state=row.state,  # type: ignore[arg-type]
        labels=dict(row.labels),
        summary_en=row.summary_en,
        summary_zh=row.summary_zh,
        value=row.value,
        threshold=row.threshold,
        details=dict(row.details or {}),
        starts_at=row.starts_at,
        last_seen_at=row.last_seen_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        escalation_level=row.escalation_level,
        first_notified_at=row.first_notified_at,
        last_notified_at=row.last_notified_at,
        count=row.count,
    )


def _transition(row: AlertTransitionRow) -> Transition:
    return Transition(
        alert_id=row.alert_id,
        from_state=row.from_state,  # type: ignore[arg-type]
        to_state=row.to_state,  # type: ignore[arg-type]
        who=row.who,
        at=row.at,
        note=row.note,
    )


def _silence(row: SilenceRow) -> Silence:
    return Silence(
        id=row.id,
        matchers=dict(row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        reason=row.reason,
        cancelled_at=row.cancelled_at,
        cancelled_by=row.cancelled_by,
    )
