"""Durable, de-duplicated intake of events and the live state of cases.

Owns: the tables ``intake_event`` (every accepted event once, keyed by the sender's
``event_id``), ``intake_reject`` (every refused event with its reason: nothing is lost) and
``monitor_case`` (the live :class:`~servq.monitor.state.CaseState` of every case, with the
sequence number of the last change so the monitor reads only what changed).

:func:`accept` stores a batch in one transaction and answers per event: ``accepted``,
``duplicate`` (already stored: the sender may stop retrying) or ``rejected`` with a reason. An
answer of accepted or duplicate means the event is committed. Events of one case may arrive out
of order: a case whose new events are older than what it has seen is rebuilt from all its
stored events, so the state never depends on arrival order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from servq.app_store import Base, JSONType, Store
from servq.monitor.events import CASE_TYPES, Event, event_id_of, parse_event
from servq.monitor.state import CaseState

Status = Literal["accepted", "duplicate", "rejected"]
_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only


class IntakeEvent(Base):
    __tablename__ = "intake_event"

    seq: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str] = mapped_column(String(200), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)


class IntakeReject(Base):
    __tablename__ = "intake_reject"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    event_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(DateTime)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)


class MonitorCase(Base):
    __tablename__ = "monitor_case"

    case_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    is_open: Mapped[bool] = mapped_column(Boolean, index=True)
    last_event_at: Mapped[datetime] = mapped_column(DateTime)
    changed_seq: Mapped[int] = mapped_column(BigInteger, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)


@dataclass(frozen=True)
class Answer:
    """What happened to one event of a batch."""

    event_id: str | None
    status: Status
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event_id": self.event_id, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class IntakeResult:
    answers: list[Answer]
    changed_cases: set[str] = field(default_factory=set)
    last_seq: int = 0

    def counts(self) -> dict[str, int]:
        out = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for a in self.answers:
            out[a.status] += 1
        return out


# -- case state as JSON -----------------------------------------------------------------------
_TIMES = ("created_at", "first_reply_at", "awaiting_reply_since", "resolved_at")


def state_to_json(state: CaseState) -> dict[str, Any]:
    data = {f.name: getattr(state, f.name) for f in fields(state)}  # shallow: no deepcopy
    for key in _TIMES:
        data[key] = data[key].isoformat() if data[key] else None
    data["statuses"] = [[s, t.isoformat()] for s, t in state.statuses]
    data["extra"] = dict(state.extra)
    return data


def state_from_json(data: dict[str, Any]) -> CaseState:
    values = dict(data)
    for key in _TIMES:
        values[key] = datetime.fromisoformat(values[key]) if values.get(key) else None
    values["statuses"] = [(s, datetime.fromisoformat(t)) for s, t in values["statuses"]]
    return CaseState(**values)


# -- folding events into a case state ---------------------------------------------------------
_LABEL_FIELDS = ("priority", "channel", "category", "team", "site", "agent", "customer_id")


def _set_status(state: CaseState, status: str, at: datetime) -> None:
    if status != state.status:
        state.statuses.append((status, at))
    if status in ("solved", "closed", "cancelled"):
        # a message left unanswered before the solve is not owed a reply after a reopen
        state.awaiting_reply_since = None
    if status == "solved":
        state.resolved_at = at
    elif status in ("new", "open", "pending", "on_hold"):
        state.resolved_at = None


def apply_event(state: CaseState | None, ev: Event) -> CaseState | None:
    """The case's state after ``ev``; None while the case has not been created."""
    at = ev.at
    if ev.type == "case_created":
        if state is None:
            state = CaseState(ev.case_id, at, [(ev.status or "new", at)])
        state.created_by_agent = ev.created_by == "agent"
    if state is None or ev.type not in CASE_TYPES:
        return state
    for key in _LABEL_FIELDS:
        value = getattr(ev, key)
        if value and (ev.type in ("case_created", "case_updated") or key == "agent"):
            setattr(state, key, value)
    if ev.type == "agent_replied":
        state.agent_replies += 1
        needed = 2 if state.created_by_agent else 1
        if state.first_reply_at is None and state.agent_replies >= needed:
            state.first_reply_at = at
        state.awaiting_reply_since = None
    elif (
        ev.type == "customer_replied"
        and state.first_reply_at is not None
        and state.awaiting_reply_since is None
    ):
        state.awaiting_reply_since = at
    status = ev.new_status()
    if status is not None and ev.type != "case_created":
        _set_status(state, status, at)
    state.version += 1
    return state


def fold(events: Iterable[Event]) -> CaseState | None:
    """The state of a case from its events, taken in time order (ties: arrival order)."""
    state: CaseState | None = None
    for ev in sorted(events, key=lambda e: e.at):
        state = apply_event(state, ev)
    return state


# -- intake -----------------------------------------------------------------------------------
def _insert(session: Session, dialect: str, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert events, skipping ids already stored; the new ids with their sequence numbers."""
    if not rows:
        return {}
    module = postgresql if dialect == "postgresql" else sqlite
    # Core statements on the tables, not ORM bulk operations: a third of the intake's time went
    # to the ORM's per-row bookkeeping
    stmt = (
        module.insert(IntakeEvent.__table__)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(IntakeEvent.__table__.c.event_id, IntakeEvent.__table__.c.seq)
    )
    result = session.execute(stmt, rows)
    return {eid: seq for eid, seq in result.all()}


def _rebuild(session: Session, case_id: str) -> CaseState | None:
    stored = session.execute(
        select(IntakeEvent.payload)
        .where(IntakeEvent.case_id == case_id)
        .order_by(IntakeEvent.occurred_at, IntakeEvent.seq)
    ).scalars()
    return fold(Event.model_validate(p) for p in stored)


_CASE_COLUMNS = ("state", "is_open", "last_event_at", "changed_seq", "updated_at")


def _update_cases(session: Session, events: Sequence[Event], seq: int, now: datetime) -> set[str]:
    by_case: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        if ev.type in CASE_TYPES:
            by_case[ev.case_id].append(ev)
    if not by_case:
        return set()
    ids = list(by_case)
    rows = {
        case_id: (state, last)
        for case_id, state, last in session.execute(
            select(MonitorCase.case_id, MonitorCase.state, MonitorCase.last_event_at)
            .where(MonitorCase.case_id.in_(ids))
            .with_for_update()  # PostgreSQL: two workers never fold the same case at once
        )
    }
    # events stored before this batch for cases without a state: sent before their creation
    stored = dict(
        session.execute(
            select(IntakeEvent.case_id, func.count())
            .where(IntakeEvent.case_id.in_([c for c in ids if c not in rows]))
            .group_by(IntakeEvent.case_id)
        ).all()
    )
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for case_id, evs in by_case.items():
        evs.sort(key=lambda e: e.at)
        known = rows.get(case_id)
        state: CaseState | None
        if known is not None and evs[0].at >= known[1]:
            state = state_from_json(known[0])
            for ev in evs:
                state = apply_event(state, ev)
        elif known is None and stored.get(case_id, 0) <= len(evs):
            state = fold(evs)
        else:  # out of order: fold everything the case has, in time order
            state = _rebuild(session, case_id)
        if state is None:  # events of a case not created yet: stored, applied on creation
            continue
        last = max(evs[-1].at, known[1] if known else state.created_at)
        values = {
            "case_id": case_id,
            "state": state_to_json(state),
            "is_open": not state.is_done,
            "last_event_at": last,
            "changed_seq": seq,
            "updated_at": now,
        }
        (updates if known is not None else inserts).append(values)
    table = cast(Table, MonitorCase.__table__)
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        session.execute(
            update(table)
            .where(table.c.case_id == bindparam("key"))
            .values({c: bindparam(f"new_{c}") for c in _CASE_COLUMNS}),
            [{"key": v["case_id"], **{f"new_{c}": v[c] for c in _CASE_COLUMNS}} for v in updates],
        )
    return {v["case_id"] for v in inserts + updates}


def accept(
    store: Store, raws: Sequence[Any], now: datetime, *, source: str = "api"
) -> IntakeResult:
    """Store a batch of raw events (dicts) in one transaction and answer for each."""
    answers: list[Answer | None] = [None] * len(raws)
    valid: dict[str, tuple[int, Event]] = {}
    rejects: list[IntakeReject] = []
    for i, raw in enumerate(raws):
        parsed = parse_event(raw)
        if isinstance(parsed, str):
            answers[i] = Answer(event_id_of(raw), "rejected", parsed)
            rejects.append(
                IntakeReject(
                    event_id=event_id_of(raw),
                    source=source,
                    received_at=now,
                    reason=parsed,
                    payload=_json_text(raw),
                )
            )
        elif parsed.event_id in valid:
            answers[i] = Answer(parsed.event_id, "duplicate", "repeated in the same batch")
        else:
            valid[parsed.event_id] = (i, parsed)
    rows = [
        {
            "event_id": ev.event_id,
            "type": ev.type,
            "case_id": ev.case_id,
            "occurred_at": ev.at,
            "received_at": now,
            "source": source,
            "payload": ev.model_dump(mode="json", exclude_none=True),
        }
        for _, ev in valid.values()
    ]
    with store.session() as session:
        session.add_all(rejects)
        new = _insert(session, store.dialect, rows)
        fresh = [ev for eid, (_, ev) in valid.items() if eid in new]
        last_seq = max(new.values(), default=0)
        changed = _update_cases(session, fresh, last_seq, now)
    for eid, (i, _) in valid.items():
        answers[i] = Answer(eid, "accepted" if eid in new else "duplicate")
    done = [a for a in answers if a is not None]
    return IntakeResult(done, changed, last_seq)


def _json_text(raw: Any) -> str:
    import json

    try:
        return json.dumps(raw, ensure_ascii=False, default=str)[:20000]
    except (TypeError, ValueError):
        return repr(raw)[:20000]


# -- reading ----------------------------------------------------------------------------------
def changed_cases(
    store: Store, after_seq: int, recent_since: datetime | None = None
) -> tuple[list[CaseState], int]:
    """Cases changed since sequence number ``after_seq`` and the newest sequence number seen.

    Two intake processes may commit sequence numbers out of order (the lower one last), so the
    caller also passes ``recent_since``: cases updated since then are read again whatever
    their number (reading a case twice is harmless; missing one is not).
    """
    conds = [MonitorCase.changed_seq > after_seq]
    if recent_since is not None:
        conds.append(MonitorCase.updated_at >= recent_since)
    found: dict[str, tuple[dict[str, Any], int]] = {}
    with store.session() as session:
        # one indexed query per condition (an OR of the two would scan the whole table)
        for cond in conds:
            for case_id, state, seq in session.execute(
                select(MonitorCase.case_id, MonitorCase.state, MonitorCase.changed_seq).where(cond)
            ):
                found[case_id] = (state, seq)
    rows = sorted(found.values(), key=lambda r: r[1])
    if not rows:
        return [], after_seq
    return [state_from_json(s) for s, _ in rows], max(q for _, q in rows)


def open_cases(store: Store) -> tuple[list[CaseState], int]:
    """Every open case and the newest change sequence number (for start-up)."""
    with store.session() as session:
        states = session.execute(
            select(MonitorCase.state).where(MonitorCase.is_open.is_(True))
        ).scalars()
        cases = [state_from_json(s) for s in states]
        top = session.execute(select(func.max(MonitorCase.changed_seq))).scalar()
    return cases, int(top or 0)


def last_change(store: Store) -> int:
    """The newest change sequence number of any case (0 for none)."""
    with store.session() as session:
        return int(session.execute(select(func.max(MonitorCase.changed_seq))).scalar() or 0)


def counts(store: Store) -> dict[str, int]:
    """How many events, rejects and open cases the store holds."""
    with store.session() as session:
        return {
            "events": session.execute(select(func.count()).select_from(IntakeEvent)).scalar_one(),
            "rejected": session.execute(
                select(func.count()).select_from(IntakeReject)
            ).scalar_one(),
            "open_cases": session.execute(
                select(func.count()).select_from(MonitorCase).where(MonitorCase.is_open.is_(True))
            ).scalar_one(),
        }
