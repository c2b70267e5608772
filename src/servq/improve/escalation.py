"""Escalation of the improvement loop through the monitor's alerts and notifications.

Owns: :func:`escalation_signals`, which turns what is late into
:class:`~servq.monitor.signals.Signal` values, and :func:`run_escalation`, which hands them to
the :class:`~servq.monitor.alerts.AlertManager` (the monitor calls it on every alert tick):

- a problem nobody claimed by its claim deadline fires ``improve.unclaimed`` (warning; labels
  ``problem_id`` and ``department`` when one was proposed); the problem becomes ``escalated``;
- an urgent plan neither done nor verified by its due time fires ``improve.plan_overdue``
  (critical; labels ``plan_id``, ``problem_id``, ``team``): escalation level 1. ``level2_hours``
  of the urgent calendar later it is still not done: level 2, a second alert of the same rule
  with the extra label ``level: "2"`` (so it is notified again; the level-1 alert stays open).

No signal kind of the monitor means "a deadline of the improvement loop passed"; these use
``threshold`` (time past a limit) and say what they are in ``details["kind_detail"]``
(``unclaimed_problem``, ``urgent_plan_overdue``). The marks on the rows (state, escalated_at,
escalation_level) are written with a history event by ``system``. Once the condition is gone
(claimed, done, closed) the open alert of the rule is resolved by a clearing signal: the open
``improve.*`` alerts are compared with what still fires, so nothing else needs remembering.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from servq.app_store import Store
from servq.improve.model import OVERDUE_STATUSES, UNCLAIMED_STATES, PlanRow, ProblemRow
from servq.improve.service import SYSTEM, Edit, ImprovementService, naive_utc
from servq.monitor.signals import Signal, SignalKind

if TYPE_CHECKING:
    from servq.monitor.alerts import AlertManager, Notice

UNCLAIMED_RULE = "improve.unclaimed"
OVERDUE_RULE = "improve.plan_overdue"
RULES = (UNCLAIMED_RULE, OVERDUE_RULE)
KIND: SignalKind = "threshold"  # the closest of the monitor's kinds: a time limit passed


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "–"
    local = moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {zone.key}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _unclaimed(service: ImprovementService, row: ProblemRow, now: datetime) -> Signal:
    cfg = service.config
    days = _number(cfg.claim_days)
    if cfg.claim_calendar == "24x7":
        span_en, span_zh = f"{days} day{'' if days == '1' else 's'}", f"{days} 天"
    else:
        span_en = f"{days} working day{'' if days == '1' else 's'} ({cfg.claim_calendar})"
        span_zh = f"{days} 个工作日（{cfg.claim_calendar}）"
    labels = {"problem_id": row.id}
    if row.department:
        labels["department"] = row.department
    return Signal(
        rule=UNCLAIMED_RULE,
        kind=KIND,
        labels=labels,
        firing=True,
        at=now,
        severity="warning",
        summary_en=(
            f"problem {row.id} unclaimed for {span_en}; escalated to the committee: {row.title}"
        ),
        summary_zh=f"问题 {row.id} 已 {span_zh}无人认领，已升级至质量委员会：{row.title}",
        details={
            "kind_detail": "unclaimed_problem",
            "problem_id": row.id,
            "title": row.title,
            "severity": row.severity,
            "opened_at": _iso(row.opened_at),
            "claim_due_at": _iso(row.claim_due_at),
            "claim_days": cfg.claim_days,
            "claim_calendar": cfg.claim_calendar,
        },
    )


def _overdue(
    service: ImprovementService, plan: PlanRow, level: int, level2_at: datetime, now: datetime
) -> Signal:
    zone = ZoneInfo(service.config.timezone)
    labels = {"plan_id": plan.id, "problem_id": plan.problem_id, "team": plan.department}
    due = _local(plan.due_at, zone)
    en = (
        f"urgent plan {plan.id} of problem {plan.problem_id} is overdue (due {due}, status "
        f"{plan.status}, owner {plan.owner}, {plan.department}): {plan.title}"
    )
    zh = (
        f"问题 {plan.problem_id} 的紧急整改计划 {plan.id} 已逾期（截止 {due}，状态 {plan.status}，"
        f"负责人 {plan.owner}，{plan.department}）：{plan.title}"
    )
    if level >= 2:
        labels["level"] = str(level)
        hours = _number(service.config.level2_hours)
        en = f"escalation level {level}: still not done {hours} h after its due time; {en}"
        zh = f"升级至第 {level} 级：截止后 {hours} 小时仍未完成；{zh}"
    return Signal(
        rule=OVERDUE_RULE,
        kind=KIND,
        labels=labels,
        firing=True,
        at=now,
        severity="critical",
        summary_en=en,
        summary_zh=zh,
        details={
            "kind_detail": "urgent_plan_overdue",
            "plan_id": plan.id,
            "problem_id": plan.problem_id,
            "title": plan.title,
            "status": plan.status,
            "owner": plan.owner,
            "escalation_level": level,
            "due_at": _iso(plan.due_at),
            "level2_at": _iso(level2_at),
            "calendar": service.config.urgent_calendar,
        },
    )


def _cleared(session: Session, firing: set[str], now: datetime) -> list[Signal]:
    """Clearing signals for the open ``improve.*`` alerts whose condition is gone."""
    from servq.monitor.alerts import OPEN_STATES
    from servq.monitor.alerts.tables import AlertRow

    query = (
        select(AlertRow)
        .where(AlertRow.rule.in_(RULES), AlertRow.state.in_(OPEN_STATES))
        .order_by(AlertRow.id)
    )
    out = []
    for alert in session.scalars(query):
        if alert.fingerprint in firing:
            continue
        labels: dict[str, Any] = dict(alert.labels)
        what = labels.get("plan_id") or labels.get("problem_id") or ""
        out.append(
            Signal(
                rule=alert.rule,
                kind=KIND,
                labels=labels,
                firing=False,
                at=now,
                severity="critical" if alert.rule == OVERDUE_RULE else "warning",
                summary_en=f"{what} is no longer late",
                summary_zh=f"{what} 已不再逾期",
                details={"kind_detail": "cleared"},
            )
        )
    return out


def escalation_signals(service: ImprovementService, now: datetime) -> list[Signal]:
    """What is late at ``now`` (naive UTC or aware), as signals for the alert manager; marks
    newly escalated problems and plans on their rows (with a history event by ``system``)."""
    now = naive_utc(now)

    def work(session: Session) -> list[Signal]:
        signals: list[Signal] = []
        problems = session.scalars(
            select(ProblemRow)
            .where(ProblemRow.state.in_(UNCLAIMED_STATES), ProblemRow.claim_due_at <= now)
            .order_by(ProblemRow.number)
            .with_for_update()
        ).all()
        for row in problems:
            signal = _unclaimed(service, row, now)
            if row.state == "open":
                edit = Edit(session, SYSTEM, now, "escalate", signal.summary_en)
                edit.set(row, "state", "escalated")
                edit.set(row, "escalated_at", now)
            signals.append(signal)
        plans = session.scalars(
            select(PlanRow)
            .where(
                PlanRow.tier == "urgent",
                PlanRow.status.in_(OVERDUE_STATUSES),
                PlanRow.due_at <= now,
            )
            .order_by(PlanRow.number)
            .with_for_update()
        ).all()
        for plan in plans:
            assert plan.due_at is not None  # by the query
            level2_at, _ = service.urgent_deadline(plan.due_at, service.config.level2_hours)
            level = 2 if now >= level2_at else 1
            first = _overdue(service, plan, 1, level2_at, now)
            signals.append(first)
            if level >= 2:
                signals.append(_overdue(service, plan, level, level2_at, now))
            if plan.escalation_level < level:
                edit = Edit(session, SYSTEM, now, "escalate", signals[-1].summary_en)
                edit.set(plan, "escalation_level", level)
                edit.set(plan, "escalated_at", now)
        signals += _cleared(session, {s.fingerprint for s in signals}, now)
        return signals

    return service.transact(work)


def run_escalation(
    store: Store,
    workspace: Path | str,
    now: datetime,
    *,
    manager: AlertManager | None = None,
) -> list[Notice]:
    """Escalate what is late at ``now`` through the alert manager (by default one under the
    workspace's ``alerts.yaml``) and return the notices to send. Nothing late, nothing done."""
    service = ImprovementService.for_workspace(store, workspace)
    signals = escalation_signals(service, now)
    if not signals:
        return []
    if manager is None:
        from servq.monitor.alerts import AlertManager, AlertPolicy

        manager = AlertManager(store, AlertPolicy.for_workspace(workspace))
    return manager.process(signals, now)


__all__ = [
    "OVERDUE_RULE",
    "RULES",
    "UNCLAIMED_RULE",
    "escalation_signals",
    "run_escalation",
]
