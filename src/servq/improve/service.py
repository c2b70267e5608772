"""The improvement loop's transactions: problems, claiming, 5-Why retrospectives, tiered plans.

Owns: :class:`ImprovementService` and the permission helpers :func:`can_edit` and
:func:`check_edit`. Every change is one transaction that also writes one ``improve_event`` row per
changed field (who, what, from, to, when), so the history of a problem, its retrospective and
its plans can always be replayed. Methods take ``by`` (a user name); the web layer checks
:func:`can_edit` first. Times handed in are naive UTC or aware; times handed out are naive UTC.

Stages move forward with the work: claiming a problem or saving its retrospective moves it from
``monitor`` to ``analyse``; adding a plan, or resuming work on one, to ``improve``; a verdict (or
a plan marked verified or not effective) to ``verify``; when every plan of a problem is verified
the problem is ``closed``. Deadlines (the claim deadline, an urgent plan's due time) are business
time on the calendars of :class:`~servq.improve.model.ImproveConfig`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from servq.app_store import Store
from servq.errors import ServqError
from servq.improve.model import (
    OVERDUE_STATUSES,
    PLAN_MOVES,
    PLAN_STATUSES,
    PROBLEM_STATES,
    SEVERITIES,
    SOURCES,
    STAGES,
    TIERS,
    UNCLAIMED_STATES,
    VERDICT_STATUSES,
    ConflictError,
    EventRow,
    Forbidden,
    ImproveConfig,
    ImproveError,
    PlanRow,
    ProblemRow,
    RetroRow,
    clean_conclusions,
    clean_nodes,
    clean_participants,
    retro_findings,
)
from servq.warehouse.store import utcnow

if TYPE_CHECKING:
    from servq.auth import Principal
    from servq.calendar import BusinessClock, CalendarSpec
    from servq.monitor.alerts import Alert

log = logging.getLogger("servq.improve")
T = TypeVar("T")
SYSTEM = "system"  # who acts when nobody does: escalation
EDIT_ANY = ("admin", "quality_manager")
# PostgreSQL: serialization failure, deadlock detected; both mean "run the transaction again"
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})
_ALERT_SEVERITY = {"info": "low", "warning": "medium", "critical": "high"}


# -- permissions -----------------------------------------------------------------------------------


def can_edit(principal: Principal, department: str | None) -> bool:
    """Whether ``principal`` may change problems and plans of ``department``: administrators and
    quality managers any; a department owner only their own departments; nobody else."""
    if principal.role in EDIT_ANY:
        return True
    if principal.role == "department_owner":
        return department is not None and department in principal.departments
    return False


def check_edit(principal: Principal, department: str | None) -> None:
    """Raise :class:`Forbidden` unless :func:`can_edit` says yes."""
    if can_edit(principal, department):
        return
    where = department or "no department"
    where_zh = department or "未指定部门"
    raise Forbidden(
        f"{principal.username} ({principal.role}) may not change the problems and plans of "
        f"{where} / {principal.username} 无权修改 {where_zh} 的问题与整改计划"
    )


# -- time ------------------------------------------------------------------------------------------


def naive_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _plain(value: Any) -> Any:
    """A value as JSON data (times as ISO text), for the history's old/new columns."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class Deadlines:
    """Business time added to instants on named calendars, with clocks kept between calls.

    ``24x7`` is plain calendar time. A calendar that cannot answer (a year China's holiday data
    does not cover yet) falls back to calendar time, logged and said in the returned note.
    """

    def __init__(self, folders: Sequence[Path] | None = None) -> None:
        self.folders = list(folders) if folders is not None else None
        self._specs: dict[str, CalendarSpec] = {}
        self._clocks: dict[str, BusinessClock] = {}

    def spec(self, calendar: str) -> CalendarSpec:
        if calendar not in self._specs:
            from servq.calendar import load_calendar

            self._specs[calendar] = load_calendar(calendar, self.folders)
        return self._specs[calendar]

    def workday_seconds(self, calendar: str) -> float:
        """Open seconds of one working day of ``calendar`` (24 hours on ``24x7``)."""
        if calendar == "24x7":
            return 86400.0
        return float(sum(r.end - r.start for r in self.spec(calendar).hours.workday))

    def add(self, calendar: str, start: datetime, seconds: float) -> tuple[datetime, str]:
        """``seconds`` of open time of ``calendar`` after ``start``, and a note ('' normally)."""
        start = naive_utc(start)
        if calendar == "24x7":
            return start + timedelta(seconds=seconds), ""
        from servq.calendar import BusinessClock, ClockSpanError

        spec = self.spec(calendar)
        try:
            clock = self._clocks.get(calendar)
            if clock is not None:
                try:
                    return _moment(clock.add(start, seconds)), ""
                except ClockSpanError:
                    pass
            for pad in (35, 120, 400, 1000):
                clock = BusinessClock(spec, start, start, pad_days=pad)
                try:
                    found = _moment(clock.add(start, seconds))
                except ClockSpanError:
                    continue
                self._clocks[calendar] = clock
                return found, ""
        except ServqError as exc:  # CalendarRangeError: no holiday data for the year
            reason = str(exc)
        else:
            reason = "the deadline is too far away"
        note = (
            f"calendar '{calendar}' cannot count from {start:%Y-%m-%d} ({reason}); calendar "
            f"time used / 日历 '{calendar}' 无法计算，改按自然时间计算"
        )
        log.warning(note)
        return start + timedelta(seconds=seconds), note


def _moment(value: Any) -> datetime:
    import pandas as pd

    moment: datetime = pd.Timestamp(value).to_pydatetime()
    return moment.replace(tzinfo=None)


# -- history ---------------------------------------------------------------------------------------


def _identity(row: ProblemRow | PlanRow | RetroRow) -> tuple[str, str, str]:
    """(entity, entity id, problem id) of a row."""
    if isinstance(row, ProblemRow):
        return "problem", row.id, row.id
    if isinstance(row, PlanRow):
        return "plan", row.id, row.problem_id
    return "retro", row.problem_id, row.problem_id


@dataclass
class Edit:
    """One change made by ``who`` at ``at``: sets fields and writes their history rows."""

    session: Session
    who: str
    at: datetime
    action: str
    note: str = ""

    def log(
        self,
        row: ProblemRow | PlanRow | RetroRow,
        field: str | None = None,
        old: Any = None,
        new: Any = None,
    ) -> None:
        entity, entity_id, problem_id = _identity(row)
        self.session.add(
            EventRow(
                entity=entity,
                entity_id=entity_id,
                problem_id=problem_id,
                at=self.at,
                who=self.who,
                action=self.action,
                field=field,
                old=_plain(old),
                new=_plain(new),
                note=self.note,
            )
        )

    def set(self, row: ProblemRow | PlanRow | RetroRow, field: str, value: Any) -> bool:
        """Set one field; a history row when it changed. Whether it changed."""
        old = getattr(row, field)
        if old == value:
            return False
        setattr(row, field, value)
        row.updated_at = self.at
        self.log(row, field, old, value)
        return True


# -- rows as data ----------------------------------------------------------------------------------

_PROBLEM_FIELDS = (
    "id",
    "title",
    "description",
    "source",
    "source_ref",
    "evidence",
    "severity",
    "stage",
    "state",
    "department",
    "owner",
    "opened_by",
    "opened_at",
    "claimed_at",
    "claim_due_at",
    "escalated_at",
    "closed_at",
    "updated_at",
)
_PLAN_FIELDS = (
    "id",
    "problem_id",
    "title",
    "tier",
    "owner",
    "department",
    "opened_by",
    "opened_at",
    "due_at",
    "milestones",
    "acceptance",
    "verdict",
    "status",
    "escalated_at",
    "escalation_level",
    "updated_at",
)


def problem_dict(row: ProblemRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _PROBLEM_FIELDS}


def plan_dict(row: PlanRow, now: datetime | None = None) -> dict[str, Any]:
    out = {name: getattr(row, name) for name in _PLAN_FIELDS}
    out["overdue"] = bool(
        now is not None
        and row.due_at is not None
        and row.status in OVERDUE_STATUSES
        and now >= row.due_at
    )
    return out


def retro_dict(row: RetroRow) -> dict[str, Any]:
    return {
        "problem_id": row.problem_id,
        "participants": list(row.participants),
        "nodes": list(row.nodes),
        "conclusions": list(row.conclusions),
        "complete": row.complete,
        "issues": list(row.issues),
        "version": row.version,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at,
    }


def event_dict(row: EventRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "problem_id": row.problem_id,
        "at": row.at,
        "who": row.who,
        "action": row.action,
        "field": row.field,
        "old": row.old,
        "new": row.new,
        "note": row.note,
    }


# -- checks of what callers hand in ----------------------------------------------------------------


def _one_of(value: str, allowed: Sequence[str], what: str, what_zh: str) -> str:
    if value not in allowed:
        raise ImproveError(
            f"unknown {what} '{value}': use {', '.join(allowed)} / 未知{what_zh} '{value}'"
        )
    return value


def _required(value: Any, what: str, what_zh: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ImproveError(f"{what} must not be empty / {what_zh}不能为空")
    return value.strip()


def _optional(value: str | None, what: str, what_zh: str) -> str | None:
    return None if value is None else _required(value, what, what_zh)


def _evidence(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """Evidence as stored: example texts masked (no phone numbers, ids, cards, e-mails)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ImproveError("evidence must be a mapping / 证据应为映射")
    out = dict(_plain(value))
    texts = out.get("texts")
    if texts is not None:
        if isinstance(texts, str) or not isinstance(texts, list):
            raise ImproveError("evidence.texts must be a list of texts / 证据文本应为列表")
        from servq.text.pii import mask

        out["texts"] = [mask(str(t)) for t in texts]
    cases = out.get("cases")
    if cases is not None:
        if isinstance(cases, str) or not isinstance(cases, list):
            raise ImproveError("evidence.cases must be a list of case ids / 证据工单应为列表")
        out["cases"] = [str(c) for c in cases]
    return out


def _when_text(value: Any, where: str) -> str:
    """A milestone date or time as ISO text (a date stays a date)."""
    if isinstance(value, datetime):
        return naive_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        for parse in (date.fromisoformat, datetime.fromisoformat):
            try:
                parse(text)
            except ValueError:
                continue
            return text
    raise ImproveError(f"{where}: expected a date such as 2025-12-31 / 应为日期，例如 2025-12-31")


def _milestones(value: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(value):
        where = f"milestones[{i}]"
        if not isinstance(item, Mapping):
            raise ImproveError(f"{where}: expected {{title, due}} / 里程碑应含标题与日期")
        unknown = sorted(set(item) - {"title", "due", "done_at"})
        if unknown:
            raise ImproveError(f"{where}: unknown field(s) {', '.join(unknown)} / 未知字段")
        done = item.get("done_at")
        out.append(
            {
                "title": _required(item.get("title"), f"{where}.title", "里程碑标题"),
                "due": _when_text(item.get("due"), f"{where}.due"),
                "done_at": None if done is None else _when_text(done, f"{where}.done_at"),
            }
        )
    return out


def _acceptance(value: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ImproveError(f"acceptance[{i}]: expected a mapping / 验收标准应为映射")
        out.append(dict(_plain(item)))
    return out


def _stage_at_least(edit: Edit, problem: ProblemRow, stage: str) -> None:
    """Move the problem forward to ``stage``; never back."""
    if STAGES.index(problem.stage) < STAGES.index(stage):
        edit.set(problem, "stage", stage)


def _not_closed(problem: ProblemRow) -> None:
    if problem.state == "closed":
        raise ImproveError(
            f"problem {problem.id} is closed: nothing can be changed / 问题 {problem.id} 已关闭，"
            f"不能修改"
        )


def _next_number(session: Session, table: type[ProblemRow] | type[PlanRow]) -> int:
    """The next sequential number of a problem or plan. On PostgreSQL a transaction-scoped
    advisory lock makes concurrent writers take turns (SQLite writers already do: the store
    begins with ``BEGIN IMMEDIATE``); a lost race would still only mean a retry."""
    if session.get_bind().dialect.name == "postgresql":
        key = 0x5E29_0001 if table is ProblemRow else 0x5E29_0002
        session.execute(select(func.pg_advisory_xact_lock(key)))
    return int(session.scalar(select(func.max(table.number))) or 0) + 1


def _lost_race(exc: Exception) -> bool:
    orig = getattr(exc, "orig", None)
    if isinstance(exc, IntegrityError):
        text = str(orig)
        return any(
            key in text for key in ("uq_improve_", "improve_problem_pkey", "improve_plan_pkey")
        )
    return getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES


# -- the service -----------------------------------------------------------------------------------


class ImprovementService:
    """Problems, their claim, 5-Why retrospective and plans in one application store.

    ``clock`` returns now (naive UTC; default: the system clock); ``calendar_folders`` are where
    workspace calendars live (``<workspace>/calendars``).

    >>> service = ImprovementService(open_store("servq-data"))             # doctest: +SKIP
    >>> p = service.open_problem("Slow replies", source="metric", by="wang")  # doctest: +SKIP
    >>> service.claim(p["id"], "support-a", "li", by="wang")              # doctest: +SKIP
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] | None = None,
        config: ImproveConfig | None = None,
        calendar_folders: Sequence[Path] | None = None,
        attempts: int = 10,
    ) -> None:
        self.store = store
        self.config = config or ImproveConfig()
        self.clock = clock or utcnow
        self.deadlines = Deadlines(calendar_folders)
        self._attempts = attempts

    @classmethod
    def for_workspace(
        cls,
        store: Store,
        workspace: Path | str,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> ImprovementService:
        """A service under ``<workspace>/improve.yaml`` and the workspace's calendars."""
        root = Path(workspace)
        return cls(
            store,
            clock=clock,
            config=ImproveConfig.for_workspace(root),
            calendar_folders=[root / "calendars"],
        )

    def now(self) -> datetime:
        return naive_utc(self.clock())

    # -- plumbing ----------------------------------------------------------------------------------
    def transact(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction, again from the start when it lost a race (two new
        problems given the same number, a PostgreSQL deadlock)."""
        for attempt in range(1, self._attempts + 1):
            try:
                with self.store.session() as session:
                    return work(session)
            except (IntegrityError, OperationalError) as exc:
                if attempt == self._attempts or not _lost_race(exc):
                    raise
                time.sleep(random.uniform(0, 0.002 * attempt))
        raise AssertionError("unreachable")

    def _problem(self, session: Session, problem_id: str, *, lock: bool = False) -> ProblemRow:
        row = session.get(ProblemRow, problem_id, with_for_update=lock)
        if row is None:
            raise ImproveError(f"no problem {problem_id} / 没有问题 {problem_id}")
        return row

    def _plan(self, session: Session, plan_id: str, *, lock: bool = False) -> PlanRow:
        row = session.get(PlanRow, plan_id, with_for_update=lock)
        if row is None:
            raise ImproveError(f"no plan {plan_id} / 没有整改计划 {plan_id}")
        return row

    def claim_deadline(self, opened_at: datetime) -> tuple[datetime, str]:
        """When a problem opened at ``opened_at`` must be claimed (and a note when the calendar
        could not count)."""
        cal = self.config.claim_calendar
        seconds = self.config.claim_days * self.deadlines.workday_seconds(cal)
        return self.deadlines.add(cal, opened_at, seconds)

    def urgent_deadline(self, start: datetime, hours: float | None = None) -> tuple[datetime, str]:
        """``hours`` (default ``urgent_hours``) of the urgent calendar after ``start``."""
        hours = self.config.urgent_hours if hours is None else hours
        return self.deadlines.add(self.config.urgent_calendar, start, hours * 3600.0)

    # -- problems ----------------------------------------------------------------------------------
    def open_problem(
        self,
        title: str,
        *,
        source: str,
        by: str,
        description: str = "",
        source_ref: str | None = None,
        evidence: Mapping[str, Any] | None = None,
        severity: str = "medium",
        department: str | None = None,
    ) -> dict[str, Any]:
        """Record a new problem (state ``open``, stage ``monitor``); it must be claimed within
        ``claim_days`` or it is escalated."""
        title = _required(title, "title", "标题")
        by = _required(by, "by", "操作人")
        _one_of(source, SOURCES, "source", "来源")
        _one_of(severity, SEVERITIES, "severity", "严重程度")
        department = _optional(department, "department", "部门")
        stored = _evidence(evidence)
        now = self.now()
        claim_due, note = self.claim_deadline(now)

        def work(session: Session) -> dict[str, Any]:
            number = _next_number(session, ProblemRow)
            row = ProblemRow(
                id=f"P-{number:04d}",
                number=number,
                title=title,
                description=description or "",
                source=source,
                source_ref=source_ref,
                evidence=stored,
                severity=severity,
                stage="monitor",
                state="open",
                department=department,
                owner=None,
                opened_by=by,
                opened_at=now,
                claim_due_at=claim_due,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            Edit(session, by, now, "open", note or title).log(row, None, None, problem_dict(row))
            return problem_dict(row)

        return self.transact(work)

    def open_from_alert(
        self, alert: Alert, by: str, *, severity: str | None = None
    ) -> dict[str, Any]:
        """A problem from a monitor alert: its labels, value, threshold and summary are the
        evidence, its team (if any) the proposed department. An alert that already has a
        problem not closed yet gives that problem back instead of a second one."""
        ref = str(alert.id)
        with self.store.session() as session:
            query = select(ProblemRow).where(
                ProblemRow.source == "alert",
                ProblemRow.source_ref == ref,
                ProblemRow.state != "closed",
            )
            existing = session.scalars(query.order_by(ProblemRow.number)).first()
            if existing is not None:
                return problem_dict(existing)
        summary = " / ".join(s for s in (alert.summary_en, alert.summary_zh) if s) or alert.rule
        evidence: dict[str, Any] = {
            "alert": {
                "id": alert.id,
                "rule": alert.rule,
                "kind": alert.kind,
                "severity": alert.severity,
                "labels": dict(alert.labels),
                "value": alert.value,
                "threshold": alert.threshold,
                "summary_en": alert.summary_en,
                "summary_zh": alert.summary_zh,
                "starts_at": alert.starts_at,
            },
            "metric": {"rule": alert.rule, "value": alert.value, "threshold": alert.threshold},
        }
        case = alert.labels.get("case_id")
        if case:
            evidence["cases"] = [case]
        return self.open_problem(
            summary[:500],
            source="alert",
            by=by,
            description=f"{alert.rule}: {summary}",
            source_ref=ref,
            evidence=evidence,
            severity=severity or _ALERT_SEVERITY.get(alert.severity, "medium"),
            department=alert.labels.get("team") or None,
        )

    def list_problems(
        self,
        state: str | None = None,
        department: str | None = None,
        stage: str | None = None,
    ) -> list[dict[str, Any]]:
        """Problems in number order, filtered on state, owning department and stage."""
        query = select(ProblemRow).order_by(ProblemRow.number)
        if state is not None:
            query = query.where(ProblemRow.state == _one_of(state, PROBLEM_STATES, "state", "状态"))
        if stage is not None:
            query = query.where(ProblemRow.stage == _one_of(stage, STAGES, "stage", "阶段"))
        if department is not None:
            query = query.where(ProblemRow.department == department)
        with self.store.session() as session:
            return [problem_dict(row) for row in session.scalars(query)]

    def unclaimed(self) -> list[dict[str, Any]]:
        """Problems nobody has claimed yet (open or escalated), oldest first."""
        query = (
            select(ProblemRow)
            .where(ProblemRow.state.in_(UNCLAIMED_STATES))
            .order_by(ProblemRow.opened_at, ProblemRow.number)
        )
        with self.store.session() as session:
            return [problem_dict(row) for row in session.scalars(query)]

    def get_problem(self, problem_id: str) -> dict[str, Any]:
        """A problem with its retrospective (or None), its plans and its full history."""
        now = self.now()
        with self.store.session() as session:
            row = self._problem(session, problem_id)
            out = problem_dict(row)
            retro = session.get(RetroRow, problem_id)
            out["retro"] = None if retro is None else retro_dict(retro)
            plans = session.scalars(
                select(PlanRow).where(PlanRow.problem_id == problem_id).order_by(PlanRow.number)
            )
            out["plans"] = [plan_dict(p, now) for p in plans]
            out["history"] = [event_dict(e) for e in session.scalars(_events(problem_id))]
        return out

    def history(self, entity: str, entity_id: str) -> list[dict[str, Any]]:
        """Every change of one problem, plan or retrospective (by problem id), oldest first."""
        query = (
            select(EventRow)
            .where(EventRow.entity == entity, EventRow.entity_id == entity_id)
            .order_by(EventRow.at, EventRow.id)
        )
        with self.store.session() as session:
            return [event_dict(e) for e in session.scalars(query)]

    def claim(self, problem_id: str, department: str, owner: str, by: str) -> dict[str, Any]:
        """问题认领: ``department`` takes the problem with ``owner`` answering for it (state
        ``claimed``, stage at least ``analyse``). Claiming a claimed problem hands it over."""
        department = _required(department, "department", "部门")
        owner = _required(owner, "owner", "负责人")
        by = _required(by, "by", "操作人")
        now = self.now()

        def work(session: Session) -> dict[str, Any]:
            row = self._problem(session, problem_id, lock=True)
            _not_closed(row)
            handover = row.state == "claimed"
            edit = Edit(session, by, now, "handover" if handover else "claim")
            edit.set(row, "department", department)
            edit.set(row, "owner", owner)
            edit.set(row, "state", "claimed")
            edit.set(row, "claimed_at", now)
            _stage_at_least(edit, row, "analyse")
            return problem_dict(row)

        return self.transact(work)

    def close_problem(self, problem_id: str, by: str, note: str = "") -> dict[str, Any]:
        """Close a problem by hand (a duplicate, not a problem after all); the note says why."""
        by = _required(by, "by", "操作人")
        now = self.now()

        def work(session: Session) -> dict[str, Any]:
            row = self._problem(session, problem_id, lock=True)
            _not_closed(row)
            edit = Edit(session, by, now, "close", note)
            _close(edit, row)
            return problem_dict(row)

        return self.transact(work)

    # -- 5-Why -------------------------------------------------------------------------------------
    def save_retro(
        self,
        problem_id: str,
        participants: Sequence[Mapping[str, Any]],
        nodes: Sequence[Mapping[str, Any]],
        conclusions: Sequence[str],
        by: str,
        *,
        expected_version: int | None = None,
    ) -> list[str]:
        """Save the problem's 5-Why retrospective (replacing the previous version) and return
        why it is not complete yet (empty: complete). A wrong shape raises
        :class:`~servq.improve.model.RetroError` and saves nothing. With ``expected_version``,
        a retrospective saved by someone else since that version is refused."""
        people = clean_participants(participants)
        chain = clean_nodes(nodes)
        said = clean_conclusions(conclusions)
        by = _required(by, "by", "操作人")
        findings = retro_findings(people, chain, said)
        now = self.now()

        def work(session: Session) -> list[str]:
            problem = self._problem(session, problem_id, lock=True)
            _not_closed(problem)
            row = session.get(RetroRow, problem_id, with_for_update=True)
            if row is not None and expected_version not in (None, row.version):
                raise ConflictError(
                    f"the retrospective of {problem_id} is at version {row.version} (saved by "
                    f"{row.updated_by} at {row.updated_at:%Y-%m-%d %H:%M} UTC), not "
                    f"{expected_version}: reload it / 复盘已被他人更新，请刷新后再保存"
                )
            if row is None:
                row = RetroRow(
                    problem_id=problem_id,
                    participants=people,
                    nodes=chain,
                    conclusions=said,
                    complete=not findings,
                    issues=findings,
                    version=1,
                    created_by=by,
                    created_at=now,
                    updated_by=by,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                edit = Edit(session, by, now, "retro_create")
                edit.log(row, None, None, retro_dict(row))
            else:
                edit = Edit(session, by, now, "retro_update")
                changed = [
                    edit.set(row, "participants", people),
                    edit.set(row, "nodes", chain),
                    edit.set(row, "conclusions", said),
                    edit.set(row, "complete", not findings),
                    edit.set(row, "issues", findings),
                ]
                if any(changed):
                    edit.set(row, "version", row.version + 1)
                    row.updated_by = by
            _stage_at_least(edit, problem, "analyse")
            return findings

        return self.transact(work)

    # -- plans -------------------------------------------------------------------------------------
    def add_plan(
        self,
        problem_id: str,
        title: str,
        tier: str,
        owner: str,
        department: str,
        by: str,
        due_at: datetime | None = None,
        milestones: Sequence[Mapping[str, Any]] = (),
        acceptance: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """A new plan (status ``draft``) of a problem, whose stage becomes ``improve``. An
        urgent plan is due ``urgent_hours`` of the urgent calendar after now unless ``due_at``
        says otherwise; long-term plans are followed through ``milestones``
        (``{title, due}``); ``acceptance`` lists the criteria its verification checks."""
        title = _required(title, "title", "标题")
        _one_of(tier, TIERS, "tier", "计划层级")
        owner = _required(owner, "owner", "负责人")
        department = _required(department, "department", "部门")
        by = _required(by, "by", "操作人")
        steps = _milestones(milestones)
        criteria = _acceptance(acceptance)
        now = self.now()
        note = ""
        due = None if due_at is None else naive_utc(due_at)
        if due is None and tier == "urgent":
            due, note = self.urgent_deadline(now)

        def work(session: Session) -> dict[str, Any]:
            problem = self._problem(session, problem_id, lock=True)
            _not_closed(problem)
            number = _next_number(session, PlanRow)
            row = PlanRow(
                id=f"A-{number:04d}",
                number=number,
                problem_id=problem_id,
                title=title,
                tier=tier,
                owner=owner,
                department=department,
                opened_by=by,
                opened_at=now,
                due_at=due,
                milestones=steps,
                acceptance=criteria,
                verdict=None,
                status="draft",
                escalation_level=0,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            edit = Edit(session, by, now, "plan_add", note or title)
            edit.log(row, None, None, plan_dict(row))
            if problem.stage != "improve":
                edit.set(problem, "stage", "improve")
            return plan_dict(row, now)

        return self.transact(work)

    def get_plan(self, plan_id: str) -> dict[str, Any]:
        """One plan with its history."""
        now = self.now()
        with self.store.session() as session:
            out = plan_dict(self._plan(session, plan_id), now)
        out["history"] = self.history("plan", plan_id)
        return out

    def list_plans(
        self,
        problem_id: str | None = None,
        *,
        status: str | None = None,
        department: str | None = None,
        tier: str | None = None,
    ) -> list[dict[str, Any]]:
        """Plans in number order, filtered on problem, status, department and tier."""
        query = select(PlanRow).order_by(PlanRow.number)
        if problem_id is not None:
            query = query.where(PlanRow.problem_id == problem_id)
        if status is not None:
            query = query.where(PlanRow.status == _one_of(status, PLAN_STATUSES, "status", "状态"))
        if department is not None:
            query = query.where(PlanRow.department == department)
        if tier is not None:
            query = query.where(PlanRow.tier == _one_of(tier, TIERS, "tier", "计划层级"))
        now = self.now()
        with self.store.session() as session:
            return [plan_dict(row, now) for row in session.scalars(query)]

    def set_plan_status(
        self, plan_id: str, status: str, by: str, note: str = "", *, admin: bool = False
    ) -> dict[str, Any]:
        """Move a plan along draft → approved → in_progress → done → verified | not_effective,
        or not_effective → in_progress (re-work). Back to draft from anywhere is for
        administrators only (``admin=True``); any other move raises
        :class:`~servq.improve.model.ImproveError`."""
        _one_of(status, PLAN_STATUSES, "status", "状态")
        by = _required(by, "by", "操作人")
        now = self.now()

        def work(session: Session) -> dict[str, Any]:
            row = self._plan(session, plan_id, lock=True)
            problem = self._problem(session, row.problem_id, lock=True)
            _check_move(row, status, admin)
            edit = Edit(session, by, now, "status", note)
            edit.set(row, "status", status)
            _after_status(session, edit, problem, row)
            return plan_dict(row, now)

        return self.transact(work)

    def record_verdict(self, plan_id: str, verdict: Mapping[str, Any], by: str) -> dict[str, Any]:
        """Store the verification's verdict of a done plan: ``verdict["status"] == "met"``
        makes it verified, anything else not effective. The problem moves to ``verify``, and is
        closed once all its plans are verified. A verified or not-effective plan may be given a
        new verdict (a later measurement); a plan not done yet may not."""
        if not isinstance(verdict, Mapping) or "status" not in verdict:
            raise ImproveError("a verdict is a mapping with a 'status' / 验证结论须包含 status")
        by = _required(by, "by", "操作人")
        stored = dict(_plain(verdict))
        status = "verified" if stored["status"] == "met" else "not_effective"
        now = self.now()

        def work(session: Session) -> dict[str, Any]:
            row = self._plan(session, plan_id, lock=True)
            problem = self._problem(session, row.problem_id, lock=True)
            if row.status not in VERDICT_STATUSES:
                raise ImproveError(
                    f"plan {row.id} is {row.status}: a verdict needs a plan that is done / "
                    f"整改计划 {row.id} 尚未完成（{row.status}），不能验证"
                )
            edit = Edit(session, by, now, "verdict", f"verdict: {stored['status']}")
            edit.set(row, "verdict", stored)
            edit.set(row, "status", status)
            _after_status(session, edit, problem, row)
            return plan_dict(row, now)

        return self.transact(work)

    def complete_milestone(
        self,
        plan_id: str,
        milestone: int | str,
        by: str,
        *,
        at: datetime | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """Mark one milestone of a plan done (by its position from 0, or its title)."""
        by = _required(by, "by", "操作人")
        now = self.now()
        done_at = now if at is None else naive_utc(at)

        def work(session: Session) -> dict[str, Any]:
            row = self._plan(session, plan_id, lock=True)
            steps = [dict(m) for m in row.milestones]
            index = _milestone_index(row.id, steps, milestone)
            if steps[index].get("done_at"):
                raise ImproveError(
                    f"milestone '{steps[index]['title']}' of {row.id} is already done / "
                    f"里程碑已完成"
                )
            steps[index]["done_at"] = done_at.isoformat()
            Edit(session, by, now, "milestone", note or steps[index]["title"]).set(
                row, "milestones", steps
            )
            return plan_dict(row, now)

        return self.transact(work)


# -- rules shared by the transactions --------------------------------------------------------------


def _events(problem_id: str) -> Any:
    return (
        select(EventRow)
        .where(
            or_(
                EventRow.problem_id == problem_id,
                (EventRow.entity == "problem") & (EventRow.entity_id == problem_id),
            )
        )
        .order_by(EventRow.at, EventRow.id)
    )


def _check_move(row: PlanRow, status: str, admin: bool) -> None:
    if status == row.status:
        raise ImproveError(
            f"plan {row.id} is already {status} / 整改计划 {row.id} 已处于 {status} 状态"
        )
    if status == "draft":
        if not admin:
            raise Forbidden(
                f"only an administrator may send plan {row.id} back to draft / "
                f"只有管理员可以将整改计划 {row.id} 退回草稿"
            )
        return
    allowed = PLAN_MOVES[row.status]
    if status not in allowed:
        options = ", ".join(allowed) or "none (only an administrator may send it back to draft)"
        raise ImproveError(
            f"plan {row.id} cannot go from {row.status} to {status}; from {row.status} it may go "
            f"to: {options} / 整改计划 {row.id} 不能从 {row.status} 变为 {status}"
        )


def _close(edit: Edit, problem: ProblemRow) -> None:
    edit.set(problem, "stage", "closed")
    edit.set(problem, "state", "closed")
    edit.set(problem, "closed_at", edit.at)


def _after_status(session: Session, edit: Edit, problem: ProblemRow, plan: PlanRow) -> None:
    """What a plan's new status means for its problem."""
    if plan.status in ("verified", "not_effective"):
        plans = session.scalars(select(PlanRow).where(PlanRow.problem_id == problem.id)).all()
        if plans and all(p.status == "verified" for p in plans):
            _close(edit, problem)
        else:
            _reopen(edit, problem)
            edit.set(problem, "stage", "verify")
    elif plan.status in ("draft", "approved", "in_progress"):
        _reopen(edit, problem)
        if problem.stage in ("monitor", "analyse", "verify"):
            edit.set(problem, "stage", "improve")


def _reopen(edit: Edit, problem: ProblemRow) -> None:
    """A closed problem whose plan needs work again is open again (claimed if it was)."""
    if problem.state == "closed":
        edit.set(problem, "state", "claimed" if problem.owner else "open")
        edit.set(problem, "closed_at", None)
        edit.set(problem, "stage", "improve")


def _milestone_index(plan_id: str, steps: list[dict[str, Any]], milestone: int | str) -> int:
    if isinstance(milestone, int) and not isinstance(milestone, bool):
        if 0 <= milestone < len(steps):
            return milestone
    else:
        for i, step in enumerate(steps):
            if step.get("title") == milestone:
                return i
    titles = ", ".join(f"{i}: {s.get('title')}" for i, s in enumerate(steps)) or "none"
    raise ImproveError(
        f"plan {plan_id} has no milestone {milestone!r} (it has {titles}) / "
        f"整改计划 {plan_id} 没有里程碑 {milestone!r}"
    )


__all__ = [
    "Deadlines",
    "Edit",
    "ImprovementService",
    "can_edit",
    "check_edit",
    "utcnow",
]
