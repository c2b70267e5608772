"""SLA timers of open cases: deadlines on the business clock, warnings, breaches, restarts.

Owns: the table ``sla_timer`` (one row per case × policy × target: the timer's state, its
warning and breach instants, the business time used, and whether its warning and breach
alerts are raised) and :class:`TimerService`, which

- recomputes a case's timers from its :class:`~servq.monitor.state.CaseState` after events
  (:meth:`~TimerService.update`, :meth:`~TimerService.update_many`) with the semantics and the
  vectorised arithmetic of :mod:`servq.sla.evaluate`: the same rule choice, starts, stops and
  pauses, one :func:`~servq.sla.evaluate.schedule` call per policy for any number of cases;
- keeps the coming warning and breach instants in a heap with lazy invalidation, so the
  monitor sleeps until :meth:`~TimerService.next_deadline` and :meth:`~TimerService.due`
  raises each alert exactly once (the raised flags are persisted with the signal);
- rebuilds that heap from the table at start-up (:meth:`~TimerService.load`), raising once
  what fell due while the process was down.

Every method takes ``now`` (naive UTC) instead of reading the wall clock. See docs/timers.md.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, Session, mapped_column

from servq.app_store import Base, JSONType, Store
from servq.calendar import BusinessClock, CalendarSpec
from servq.calendar.days import supported_years
from servq.errors import ServqError
from servq.monitor.signals import Signal
from servq.monitor.state import CaseState
from servq.sla.evaluate import _DIGITS, _target_seconds, pad_days, schedule
from servq.sla.model import CONDITIONS, DONE_STATUSES, TARGETS, SlaPolicy, workday_seconds

TimerState = Literal["running", "paused", "breached", "achieved", "cancelled"]
Key = tuple[str, str, str]  # case_id, policy, target
Kind = Literal["warning", "breach"]

_CHUNK = 2000  # case ids per IN (...) when reading rows from SQLite
# a clock reaches this far past the latest time it was asked about, so it is rebuilt about
# once a month of monitored time rather than at every event
_AHEAD = np.timedelta64(30, "D")
_TARGET_TEXT = {
    "first_reply": ("first reply", "首次响应"),
    "next_reply": ("next reply", "再次响应"),
    "resolution": ("resolution", "解决"),
}
# why a raised alert is cleared: (English, Chinese)
_WHY = {
    "answered": ("an agent replied", "坐席已回复"),
    "resolved": ("the case was resolved", "案件已解决"),
    "cancelled": (
        "the case ended without it, or its target no longer applies",
        "案件已结束或不再考核该目标",
    ),
    "withdrawn": (
        "the time used is under the threshold again (its target changed)",
        "已用时间重新低于阈值（目标已变更）",
    ),
}


class SlaTimer(Base):
    """One SLA timer: a target of a policy on a case (for ``next_reply``, its latest cycle).

    A live timer has no ``stopped_at``. ``due_at``/``warn_at`` are the instants the business
    time used reaches the target / ``warn_at`` × target (None while paused, unless passed);
    ``used_seconds`` is the business time used as of ``updated_at``. ``warned``/``breached``
    say the warning/breach alert is raised and not cleared; ``labels`` are those the alerts
    carry; ``version`` is the case version the row was computed from.
    """

    __tablename__ = "sla_timer"
    __table_args__ = (Index("ix_sla_timer_stopped_at", "stopped_at"),)

    case_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    policy: Mapped[str] = mapped_column(String(100), primary_key=True)
    target: Mapped[str] = mapped_column(String(20), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    warn_at: Mapped[datetime | None] = mapped_column(DateTime)
    target_seconds: Mapped[float] = mapped_column(Float)
    used_seconds: Mapped[float] = mapped_column(Float)
    paused_since: Mapped[datetime | None] = mapped_column(DateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime)
    warned: Mapped[bool] = mapped_column(Boolean)
    breached: Mapped[bool] = mapped_column(Boolean)
    labels: Mapped[dict[str, str]] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class TimerRow(NamedTuple):
    """A row of ``sla_timer`` as read in bulk (no ORM object per row)."""

    case_id: str
    policy: str
    target: str
    state: str
    started_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    target_seconds: float
    used_seconds: float
    paused_since: datetime | None
    stopped_at: datetime | None
    warned: bool
    breached: bool
    labels: dict[str, str]
    version: int
    updated_at: datetime

    @property
    def key(self) -> Key:
        return (self.case_id, self.policy, self.target)

    @property
    def live(self) -> bool:
        return self.stopped_at is None


_TABLE = cast(Table, SlaTimer.__table__)
_SELECT = select(*(_TABLE.c[name] for name in TimerRow._fields))


def _read(session: Session, case_ids: Iterable[str], policies: Sequence[str]) -> list[TimerRow]:
    """The rows of these cases under these policies."""
    ids = sorted(set(case_ids))
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter joined through unnest. Chunks of IN ($1, …, $2000) were up to
        # 1000× slower: psycopg prepares a repeated statement, and a generic plan cached while
        # the table was small (a seq scan comparing every row with every id) stayed in use.
        wanted = (
            func.unnest(bindparam("ids", ids, type_=ARRAY(String)))
            .table_valued("id")
            .render_derived()
        )
        stmt = _SELECT.join(wanted, wanted.c.id == _TABLE.c.case_id)
        rows = session.execute(stmt.where(_TABLE.c.policy.in_(policies)))
        return [TimerRow._make(r) for r in rows]
    out: list[TimerRow] = []
    for i in range(0, len(ids), _CHUNK):
        stmt = _SELECT.where(
            _TABLE.c.case_id.in_(ids[i : i + _CHUNK]), _TABLE.c.policy.in_(policies)
        )
        out += [TimerRow._make(r) for r in session.execute(stmt)]
    return out


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or replace rows: one executemany (a prepared statement, pipelined on psycopg)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise ServqError(f"SLA timers need SQLite or PostgreSQL, not {dialect}")
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_TABLE)
    keys = [c.name for c in _TABLE.primary_key]
    rest = {c.name: stmt.excluded[c.name] for c in _TABLE.c if c.name not in keys}
    session.execute(stmt.on_conflict_do_update(index_elements=keys, set_=rest), rows)


# -- time -------------------------------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def _us(t: datetime) -> int:
    """Microseconds since the epoch of a naive UTC datetime (the heap's integer instants)."""
    return (t - _EPOCH) // _MICROSECOND


def _ns_array(values: Sequence[datetime | None]) -> npt.NDArray[np.datetime64]:
    return np.array(values, dtype="datetime64[ns]")


def _to_datetimes(ns: npt.NDArray[np.datetime64]) -> list[datetime | None]:
    """Instants as datetimes, rounded up to the microsecond (never early); NaT → None."""
    raw = ns.astype("datetime64[ns]").view(np.int64)
    nat = raw == np.iinfo(np.int64).min
    us = np.where(nat, raw, -(-raw // 1000))
    out: list[datetime | None] = us.view("datetime64[us]").tolist()
    return out


class _Clocks:
    """One BusinessClock per calendar, rebuilt wider when asked about a span outside it."""

    def __init__(self, pads: Mapping[str, int]) -> None:
        self._pads = pads
        self._built: dict[str, tuple[BusinessClock, np.datetime64, np.datetime64]] = {}

    def get(self, calendar: CalendarSpec, lo: np.datetime64, hi: np.datetime64) -> BusinessClock:
        """A clock answering for [lo, hi] plus the padding its policies' targets need."""
        found = self._built.get(calendar.name)
        if found is not None and found[1] <= lo and hi <= found[2]:
            return found[0]
        start = lo if found is None else min(lo, found[1])
        end = hi + _AHEAD
        years = supported_years(calendar)
        if years is not None:  # do not reach into years without holiday data
            end = max(hi, min(end, np.datetime64(f"{years[1]}-12-31", "ns")))
        clock = BusinessClock(calendar, start, end, pad_days=self._pads[calendar.name])
        self._built[calendar.name] = (clock, start, end)
        return clock


# -- the schedule -----------------------------------------------------------------------------
_Entry = tuple[int, int, int, Key]  # instant (µs), token, 0 warning / 1 breach, key


class _Deadlines:
    """A min-heap of warning and breach instants with lazy invalidation.

    Every (re)scheduled timer gets a new token; an entry whose token is not its timer's current
    one is stale and skipped when it reaches the top. Push and pop are O(log n); the heap is
    compacted when stale entries outnumber live ones. ``_timers`` maps a timer to its token
    and how many of its entries are still in the heap.
    """

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._timers: dict[Key, tuple[int, int]] = {}
        self._count = itertools.count()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._timers)

    def set_many(self, timers: Sequence[tuple[Key, Sequence[tuple[int, datetime]]]]) -> None:
        """Schedule each key at its ``(kind, instant)`` pairs, replacing what it had (none:
        unscheduled). A large batch is merged with one O(n) heapify instead of k pushes."""
        entries: list[_Entry] = []
        with self._lock:
            for key, instants in timers:
                if not instants:
                    self._timers.pop(key, None)
                    continue
                token = next(self._count)
                self._timers[key] = (token, len(instants))
                entries += [(_us(at), token, kind, key) for kind, at in instants]
            if len(entries) > len(self._heap) // 8:
                self._heap += entries
                heapq.heapify(self._heap)
            else:
                for entry in entries:
                    heapq.heappush(self._heap, entry)
            if len(self._heap) > 2 * len(self._timers) + 1024:
                self._heap = [e for e in self._heap if self._valid(e)]
                heapq.heapify(self._heap)

    def reset(self, entries: Iterable[tuple[Key, int, datetime]]) -> None:
        """Replace everything by ``(key, kind, instant)`` entries in one O(n) heapify."""
        with self._lock:
            self._timers = {}
            heap: list[_Entry] = []
            for key, kind, at in entries:
                token, n = self._timers.get(key, (next(self._count), 0))
                self._timers[key] = (token, n + 1)
                heap.append((_us(at), token, kind, key))
            heapq.heapify(heap)
            self._heap = heap

    def _valid(self, entry: _Entry) -> bool:
        found = self._timers.get(entry[3])
        return found is not None and found[0] == entry[1]

    def first(self) -> int | None:
        with self._lock:
            while self._heap and not self._valid(self._heap[0]):
                heapq.heappop(self._heap)
            return self._heap[0][0] if self._heap else None

    def pop_until(self, until_us: int) -> list[tuple[int, Key]]:
        """The ``(kind, key)`` of every live entry at or before ``until_us``, in time order."""
        out: list[tuple[int, Key]] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= until_us:
                entry = heapq.heappop(self._heap)
                if not self._valid(entry):
                    continue
                out.append((entry[2], entry[3]))
                token, n = self._timers[entry[3]]
                if n > 1:
                    self._timers[entry[3]] = (token, n - 1)
                else:
                    del self._timers[entry[3]]
        return out


# -- what a case says, independent of the policy ----------------------------------------------
@dataclass(frozen=True, slots=True)
class _Facts:
    first_reply: datetime | None
    resolved: datetime | None  # start of the final run of solved/closed statuses
    done: bool
    ended: datetime | None  # since when the case is in its done status


def _facts(case: CaseState) -> _Facts:
    """The stops of a case's targets, as :mod:`servq.sla.evaluate` reads a status log.

    ``first_reply_at`` is the first reply as case facts define it (for a case an agent created,
    the intake sets it at the second agent reply). Resolution stops at the start of the final
    run of solved/closed statuses, so a reopened case runs again; a cancelled case has none.
    """
    if not case.is_done:
        return _Facts(case.first_reply_at, None, False, None)
    ended = case.statuses[-1][1]
    if case.status == "cancelled":
        return _Facts(case.first_reply_at, None, True, ended)
    resolved = ended
    for status, since in reversed(case.statuses):
        if status not in DONE_STATUSES:
            break
        resolved = since
    return _Facts(case.first_reply_at, resolved, True, ended)


def _pauses(
    case: CaseState, pause: frozenset[str], now: datetime
) -> list[tuple[datetime, datetime]]:
    """The case's intervals in a pause status; the current one lasts until ``now``."""
    out = []
    ends = [since for _, since in case.statuses[1:]] + [now]
    for (status, since), end in zip(case.statuses, ends, strict=True):
        if status in pause:
            out.append((since, end))
    return out


class _Run(NamedTuple):
    """One timer to compute: its case, target, run and what it replaces."""

    ci: int
    target: str
    start: datetime
    end: datetime  # its stop, when the case ended, or now
    stopped: bool  # stopped by what it waits for (a reply, the resolution)
    cancelled: bool
    seconds: float
    old: TimerRow | None


def _run(
    ci: int,
    target: str,
    case: CaseState,
    facts: _Facts,
    seconds: float,
    old: TimerRow | None,
    now: datetime,
) -> _Run | None:
    """What a target's timer is now; None when there is none and none to close."""
    start = case.awaiting_reply_since if target == "next_reply" else case.created_at
    if math.isnan(seconds) or start is None:
        # the rule now sets no such target, or a reply cycle is over: close a live timer
        if old is None or not old.live:
            return None
        answered = not math.isnan(seconds) and not facts.done
        end = now if answered else (facts.ended or now)
        return _Run(
            ci, target, old.started_at, end, answered, not answered, old.target_seconds, old
        )
    stop = {"first_reply": facts.first_reply, "resolution": facts.resolved}.get(target)
    cancelled = stop is None and facts.done
    end = stop if stop is not None else (facts.ended if facts.ended is not None else now)
    return _Run(ci, target, start, end, stop is not None, cancelled, seconds, old)


# -- signals ----------------------------------------------------------------------------------
def _duration_text(seconds: float) -> tuple[str, str]:
    """Business seconds for people: ``1h30m`` / ``1小时30分钟`` (seconds under a minute)."""
    s = max(round(seconds), 0)
    if s < 60:
        return f"{s}s", f"{s}秒"
    h, m = divmod(round(s / 60), 60)
    en = (f"{h}h" if h else "") + (f"{m}m" if m or not h else "")
    zh = (f"{h}小时" if h else "") + (f"{m}分钟" if m or not h else "")
    return en, zh


@dataclass(frozen=True)
class _Policy:
    """A policy with what the timers need of it."""

    policy: SlaPolicy
    calendar: CalendarSpec
    workday: float
    pause: frozenset[str]

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def warn(self) -> float | None:
        """The warning share, None when warnings are off (``warn_at: 1``)."""
        return self.policy.warn_at if self.policy.warn_at < 1 else None

    def longest(self) -> float:
        return max(
            d.total_seconds(self.workday) for r in self.policy.rules for d in r.targets.values()
        )

    def shortest(self) -> float:
        """The shortest instant a timer can wait for: the least target, or its warning share."""
        least = min(
            d.total_seconds(self.workday) for r in self.policy.rules for d in r.targets.values()
        )
        return least * (self.warn or 1.0)

    def local(self, t: datetime | None) -> str:
        """A naive UTC instant as the calendar's wall-clock time, to the minute."""
        if t is None:
            return "—"
        return t.replace(tzinfo=UTC).astimezone(self.calendar.zone).strftime("%Y-%m-%d %H:%M")


def _details(p: _Policy, row: TimerRow, used: float) -> dict[str, object]:
    return {
        "policy": p.name,
        "target": row.target,
        "calendar": p.calendar.name,
        "timezone": str(p.calendar.zone),
        "started_at": row.started_at.isoformat(),
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "warn_at": row.warn_at.isoformat() if row.warn_at else None,
        "target_seconds": row.target_seconds,
        "used_seconds": used,
    }


def _breach_text(p: _Policy, row: TimerRow, used: float) -> tuple[str, str]:
    t_en, t_zh = _TARGET_TEXT[row.target]
    goal_en, goal_zh = _duration_text(row.target_seconds)
    over_en, over_zh = _duration_text(used - row.target_seconds)
    due, zone = p.local(row.due_at), p.calendar.zone
    return (
        f"SLA breach: case {row.case_id} missed its {t_en} target of {goal_en} "
        f"(policy {p.name}): due {due} {zone}, over by {over_en} of business time.",
        f"SLA 超时：案件 {row.case_id} 的{t_zh}时限 {goal_zh}（策略 {p.name}）已于 {due}"
        f"（{zone}）到期，已超出业务时间 {over_zh}。",
    )


def _warning_text(p: _Policy, row: TimerRow, used: float) -> tuple[str, str]:
    t_en, t_zh = _TARGET_TEXT[row.target]
    goal_en, goal_zh = _duration_text(row.target_seconds)
    left_en, left_zh = _duration_text(row.target_seconds - used)
    pct = round(100 * used / row.target_seconds)
    due, zone = p.local(row.due_at), p.calendar.zone
    return (
        f"SLA at risk: case {row.case_id} has used {pct}% of its {t_en} target of {goal_en} "
        f"(policy {p.name}): due {due} {zone}, {left_en} of business time left.",
        f"SLA 预警：案件 {row.case_id} 的{t_zh}时限 {goal_zh}（策略 {p.name}）已用 {pct}%，"
        f"将于 {due}（{zone}）到期，剩余业务时间 {left_zh}。",
    )


def _cleared_text(p: _Policy, kind: Kind, row: TimerRow, why: str) -> tuple[str, str]:
    t_en, t_zh = _TARGET_TEXT[row.target]
    why_en, why_zh = _WHY[why]
    what_en, what_zh = ("breach", "超时告警") if kind == "breach" else ("warning", "预警")
    due, zone = p.local(row.due_at), p.calendar.zone
    return (
        f"SLA {what_en} cleared: case {row.case_id}, {t_en} (policy {p.name}, "
        f"due {due} {zone}): {why_en}.",
        f"SLA {what_zh}解除：案件 {row.case_id} 的{t_zh}（策略 {p.name}，截止 {due}（{zone}））"
        f"——{why_zh}。",
    )


def _signal(
    kind: Kind,
    row: TimerRow,
    firing: bool,
    now: datetime,
    text: tuple[str, str],
    details: dict[str, object],
    value: float | None = None,
    threshold: float | None = None,
) -> Signal:
    return Signal(
        rule=f"sla.{row.policy}.{row.target}",  # one alert per timer, raised at the breach
        kind="sla_breach" if kind == "breach" else "sla_warning",
        labels=row.labels,
        firing=firing,
        at=now,
        severity="critical" if kind == "breach" else "warning",
        value=value,
        threshold=threshold,
        summary_en=text[0],
        summary_zh=text[1],
        details=details,
    )


def _firing(p: _Policy, kind: Kind, row: TimerRow, used: float, now: datetime) -> Signal:
    """The warning or breach of a timer; ``used``: business seconds used at ``now``."""
    if kind == "breach":
        text, threshold = _breach_text(p, row, used), row.target_seconds
    else:
        text = _warning_text(p, row, used)
        threshold = round((p.warn or 1.0) * row.target_seconds, _DIGITS)
    return _signal(kind, row, True, now, text, _details(p, row, used), used, threshold)


def _clearing(p: _Policy, row: TimerRow, why: str, now: datetime) -> Signal:
    """The signal resolving the raised alert of ``row``, with the labels it was raised with
    (so its fingerprint is the raised alert's)."""
    kind: Kind = "breach" if row.breached else "warning"
    details = {**_details(p, row, row.used_seconds), "reason": why}
    return _signal(kind, row, False, now, _cleared_text(p, kind, row, why), details)


# -- the service ------------------------------------------------------------------------------
class _Outcome(NamedTuple):
    rows: list[dict[str, Any]]
    signals: list[Signal]
    schedule: list[tuple[Key, list[tuple[int, datetime]]]]


class TimerService:
    """SLA timers of every open case under one or more policies.

    >>> svc = TimerService(store, load_policy("standard"))        # doctest: +SKIP
    >>> svc.load(now)                   # at start-up: what fell due while down, once
    >>> svc.update(case, now)           # after each event of a case: cleared alerts
    >>> svc.next_deadline()             # sleep until then, then
    >>> svc.due(now)                    # warnings and breaches, each exactly once
    """

    def __init__(
        self,
        store: Store,
        policies: SlaPolicy | Sequence[SlaPolicy],
        *,
        calendar_folders: Sequence[Path] | None = None,
    ) -> None:
        self.store = store
        given = [policies] if isinstance(policies, SlaPolicy) else list(policies)
        self._policies: dict[str, _Policy] = {}
        for pol in given:
            if pol.name in self._policies:
                raise ServqError(f"SLA policy '{pol.name}' is given twice to the timers")
            cal = pol.calendar_spec(calendar_folders)
            self._policies[pol.name] = _Policy(
                pol, cal, workday_seconds(cal), frozenset(pol.pause_statuses)
            )
        pads: dict[str, int] = {}
        for p in self._policies.values():
            need = pad_days(p.calendar, p.longest())
            pads[p.calendar.name] = max(pads.get(p.calendar.name, 0), need)
        self._clocks = _Clocks(pads)
        self._deadlines = _Deadlines()

    @property
    def policies(self) -> list[str]:
        return list(self._policies)

    def shortest_wait(self) -> float | None:
        """Business seconds of the shortest warning or target of any policy (a lower bound of
        the wall-clock time from a timer's start to its first instant); None with no policy."""
        return min((p.shortest() for p in self._policies.values()), default=None)

    def pause_statuses(self) -> frozenset[str]:
        """Every status that pauses a timer of some policy."""
        return frozenset().union(*(p.pause for p in self._policies.values()))

    def __len__(self) -> int:
        """Timers with an instant to come (or passed and not raised yet) in the schedule."""
        return len(self._deadlines)

    @contextmanager
    def _session(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
        else:
            with self.store.session() as s:
                yield s

    # -- after events -----------------------------------------------------------------------------
    def update(
        self, case: CaseState, now: datetime, session: Session | None = None
    ) -> list[Signal]:
        """Recompute the timers of ``case`` after an event (in ``session``'s transaction if
        given, else in one of its own); the signals clearing alerts of timers that stopped."""
        return self.update_many([case], now, session=session)

    def update_many(
        self, cases: Iterable[CaseState], now: datetime, session: Session | None = None
    ) -> list[Signal]:
        """:meth:`update` for many cases at once: one read, one schedule per policy, one write.

        A case older (lower ``version``) than what its timers were computed from is ignored.
        """
        latest: dict[str, CaseState] = {}
        for case in cases:
            seen = latest.get(case.case_id)
            if seen is None or case.version >= seen.version:
                latest[case.case_id] = case
        if not latest:
            return []
        out = _Outcome([], [], [])
        with self._session(session) as s:
            existing = {r.key: r for r in _read(s, latest, self.policies)}
            newest: dict[str, int] = {}
            for r in existing.values():
                newest[r.case_id] = max(newest.get(r.case_id, r.version), r.version)
            fresh = [c for c in latest.values() if c.version >= newest.get(c.case_id, c.version)]
            facts = [_facts(c) for c in fresh]
            for p in self._policies.values():
                self._plan(p, fresh, facts, existing, now, out)
            _upsert(s, out.rows)
        self._deadlines.set_many(out.schedule)
        return out.signals

    def _plan(
        self,
        p: _Policy,
        cases: list[CaseState],
        facts: list[_Facts],
        existing: Mapping[Key, TimerRow],
        now: datetime,
        out: _Outcome,
    ) -> None:
        """The timers of ``cases`` under ``p``: rows to write, signals, instants to schedule."""
        if not cases:
            return
        frame = pd.DataFrame({k: [getattr(c, k) for c in cases] for k in CONDITIONS})
        rule = p.policy.match(frame)
        runs: list[_Run] = []
        for target in TARGETS:
            seconds = _target_seconds(p.policy, rule, target, p.workday)
            for ci, case in enumerate(cases):
                old = existing.get((case.case_id, p.name, target))
                run = _run(ci, target, case, facts[ci], float(seconds[ci]), old, now)
                if run is not None:
                    runs.append(run)
        if not runs:
            return
        due, warn, used = self._schedule(p, runs, cases, now)
        for i, run in enumerate(runs):
            self._settle(p, run, cases[run.ci], due[i], warn[i], float(used[i]), now, out)

    def _schedule(
        self, p: _Policy, runs: list[_Run], cases: list[CaseState], now: datetime
    ) -> tuple[list[datetime | None], list[datetime | None], npt.NDArray[np.float64]]:
        """Deadline, warning instant and business time used of every run: one vectorised
        :func:`~servq.sla.evaluate.schedule` over the targets and their warning shares."""
        n = len(runs)
        started = _ns_array([r.start for r in runs])
        ended = _ns_array([r.end for r in runs])
        seconds = np.array([r.seconds for r in runs], dtype=np.float64)
        warn = np.round((p.warn or 1.0) * seconds, _DIGITS)
        by_case: dict[int, list[tuple[datetime, datetime]]] = {}
        rows: list[int] = []
        spans: list[tuple[datetime, datetime]] = []
        for i, r in enumerate(runs):
            if r.ci not in by_case:
                by_case[r.ci] = _pauses(cases[r.ci], p.pause, now)
            rows += [i] * len(by_case[r.ci])
            spans += by_case[r.ci]
        pause_row = np.array(rows, dtype=np.intp)
        ps = _ns_array([a for a, _ in spans])
        pe = _ns_array([b for _, b in spans])
        hi = max(np.datetime64(now, "ns"), ended.max())
        clock = self._clocks.get(p.calendar, started.min(), hi)
        sch = schedule(
            clock,
            np.concatenate([started, started]),
            np.concatenate([ended, ended]),
            np.concatenate([seconds, warn]),
            np.concatenate([pause_row, pause_row + n]),
            np.concatenate([ps, ps]),
            np.concatenate([pe, pe]),
        )
        return _to_datetimes(sch.due[:n]), _to_datetimes(sch.due[n:]), sch.elapsed[:n]

    def _settle(
        self,
        p: _Policy,
        run: _Run,
        case: CaseState,
        due: datetime | None,
        warn_at: datetime | None,
        used: float,
        now: datetime,
        out: _Outcome,
    ) -> None:
        """One timer's new row, the alerts it clears and the instants it waits for."""
        live = not (run.stopped or run.cancelled)
        paused = live and case.status in p.pause
        over = used >= run.seconds
        at_risk = p.warn is not None and used >= round(p.warn * run.seconds, _DIGITS)
        if paused:  # a paused timer has no deadline to come; passed instants stay
            due = due if over else None
            warn_at = warn_at if at_risk else None
        if p.warn is None:
            warn_at = None
        state: TimerState = (
            "cancelled"
            if run.cancelled
            else "breached"
            if over
            else "achieved"
            if run.stopped
            else "paused"
            if paused
            else "running"
        )
        key = (case.case_id, p.name, run.target)
        warned, breached = self._clear(p, run, live, at_risk, over, now, out)
        old = run.old
        labels = (
            old.labels
            if old is not None and (warned or breached)
            else {**case.labels(), "policy": p.name, "target": run.target}
        )
        out.rows.append(
            {
                "case_id": key[0],
                "policy": key[1],
                "target": key[2],
                "state": state,
                "started_at": run.start,
                "due_at": due,
                "warn_at": warn_at,
                "target_seconds": run.seconds,
                "used_seconds": used,
                "paused_since": case.statuses[-1][1] if paused else None,
                "stopped_at": None if live else run.end,
                "warned": warned,
                "breached": breached,
                "labels": labels,
                "version": case.version,
                "updated_at": now,
            }
        )
        instants: list[tuple[int, datetime]] = []
        if live and warn_at is not None and not warned:
            instants.append((0, warn_at))
        if live and due is not None and not breached:
            instants.append((1, due))
        out.schedule.append((key, instants))

    def _clear(
        self,
        p: _Policy,
        run: _Run,
        live: bool,
        at_risk: bool,
        over: bool,
        now: datetime,
        out: _Outcome,
    ) -> tuple[bool, bool]:
        """Clear the timer's alert when something raised no longer holds; the warned and
        breached flags left. A cleared alert leaves both flags down: what still holds (a
        warning after a target grew) is raised again by the schedule, as a new alert."""
        old = run.old
        if old is None or not (old.warned or old.breached):
            return False, False
        same = old.started_at == run.start
        lost_warning = old.warned and not (live and same and at_risk)
        lost_breach = old.breached and not (live and same and over)
        if not (lost_warning or lost_breach):
            return old.warned, old.breached
        if not same or run.stopped:
            why = "resolved" if run.target == "resolution" else "answered"
        else:
            why = "withdrawn" if live else "cancelled"
        out.signals.append(_clearing(p, old, why, now))
        return False, False

    # -- deadlines --------------------------------------------------------------------------------
    def next_deadline(self) -> datetime | None:
        """The earliest warning or breach instant to come (naive UTC), None when none is."""
        first = self._deadlines.first()
        if first is None:
            return None
        out: datetime = np.datetime64(first, "us").tolist()
        return out

    def due(self, now: datetime) -> list[Signal]:
        """The warnings and breaches whose instant is at or before ``now``, each once."""
        popped = self._deadlines.pop_until(_us(now))
        if not popped:
            return []
        with self.store.session() as s:
            return self._raise(s, popped, now)

    def load(self, now: datetime) -> list[Signal]:
        """At start-up: rebuild the schedule from the table, and raise (once, persisted in the
        same transaction) the warnings and breaches that fell due while the process was down."""
        c = _TABLE.c
        with self.store.session() as s:
            stmt = select(
                c.case_id, c.policy, c.target, c.warn_at, c.warned, c.due_at, c.breached
            ).where(c.stopped_at.is_(None), c.policy.in_(self.policies))
            self._deadlines.reset(_pending(s.execute(stmt)))
            return self._raise(s, self._deadlines.pop_until(_us(now)), now)

    def _raise(
        self, session: Session, popped: Sequence[tuple[int, Key]], now: datetime
    ) -> list[Signal]:
        """Signals of the popped instants the table confirms; their flags set in ``session``."""
        if not popped:
            return []
        rows = {r.key: r for r in _read(session, {k[0] for _, k in popped}, self.policies)}
        todo: dict[Key, set[Kind]] = {}
        for kind_no, key in popped:
            row = rows.get(key)
            kind: Kind = "breach" if kind_no else "warning"
            if row is not None and _pending_kind(row, kind, now):
                todo.setdefault(key, set()).add(kind)
        if not todo:
            return []
        used = self._used_now([rows[k] for k in todo], now)
        signals: list[Signal] = []
        changes: list[dict[str, Any]] = []
        for key, kinds in todo.items():
            row, u = rows[key], used[key]
            p = self._policies[row.policy]
            signals += [_firing(p, k, row, u, now) for k in ("warning", "breach") if k in kinds]
            changes.append(
                row._asdict()
                | {
                    "warned": row.warned or "warning" in kinds,
                    "breached": row.breached or "breach" in kinds,
                    "state": "breached" if "breach" in kinds else row.state,
                    "used_seconds": u,
                    "updated_at": now,
                }
            )
        _upsert(session, changes)
        return signals

    def _used_now(self, rows: Sequence[TimerRow], now: datetime) -> dict[Key, float]:
        """Business time used at ``now`` by live timers: what was used at their last update,
        plus the business time since for those not paused."""
        out: dict[Key, float] = {}
        for name, p in self._policies.items():
            mine = [r for r in rows if r.policy == name]
            if not mine:
                continue
            since = _ns_array([r.updated_at for r in mine])
            at = np.datetime64(now, "ns")
            clock = self._clocks.get(p.calendar, min(since.min(), at), max(since.max(), at))
            gained = clock.duration(since, np.full(len(mine), at))
            for r, g in zip(mine, gained, strict=True):
                add = 0.0 if r.paused_since is not None else float(g)
                out[r.key] = round(r.used_seconds + add, _DIGITS)
        return out

    # -- reading ----------------------------------------------------------------------------------
    def read(self, case_id: str) -> list[TimerRow]:
        """The stored timers of one case, in policy and target order."""
        with self.store.session() as s:
            rows = _read(s, [case_id], self.policies)
        order: dict[str, int] = {t: i for i, t in enumerate(TARGETS)}
        return sorted(rows, key=lambda r: (r.policy, order.get(r.target, 99)))


def _pending_kind(row: TimerRow, kind: Kind, now: datetime) -> bool:
    """Whether a live row's warning/breach instant has come and its alert is not raised."""
    at, raised = (row.warn_at, row.warned) if kind == "warning" else (row.due_at, row.breached)
    return row.live and not raised and at is not None and at <= now


def _pending(rows: Iterable[Any]) -> Iterator[tuple[Key, int, datetime]]:
    """Schedule entries from live rows ``(case_id, policy, target, warn_at, warned, due_at,
    breached)``: the instants whose alert is not raised yet."""
    for case_id, policy, target, warn_at, warned, due_at, breached in rows:
        if warn_at is not None and not warned:
            yield (case_id, policy, target), 0, warn_at
        if due_at is not None and not breached:
            yield (case_id, policy, target), 1, due_at


__all__ = ["SlaTimer", "TimerRow", "TimerService", "TimerState"]
