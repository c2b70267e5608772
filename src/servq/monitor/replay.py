"""Replay past events through the live monitor on a simulated clock.

Owns: :func:`replay`, which feeds events in time order into a :class:`~servq.monitor.runtime.
Monitor` exactly as intake would, and steps the monitor at every instant it would have woken up
for (each SLA warning and breach instant, each event batch), so the alerts in the store are
those a monitor running through that history would have raised, with their times. A team uses
it to see how many alerts a policy and a rule file would raise per day before switching them
on; the tests use it to check that the demo's planted overdue backlog raises its alerts.

Events are accepted in batches that never span a deadline, never span more than ``window``,
and end at any event that can bring back a timer already past its instant (a reopen, a status
that may end a pause): a case created and answered inside one batch is never seen late, as
long as the window is shorter than the shortest warning or target of the policies (the
default takes the shortest one from the policies).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from servq.monitor.alerts.tables import AlertRow
from servq.monitor.events import Event, parse_event
from servq.monitor.runtime import Monitor
from servq.monitor.store import accept
from servq.sla.model import DONE_STATUSES


@dataclass
class ReplayReport:
    """What a replay raised: alerts by kind and by local day, and the events it read."""

    events: int = 0
    rejected: int = 0
    steps: int = 0
    start: datetime | None = None  # naive UTC
    end: datetime | None = None
    alerts: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)
    per_day: dict[str, int] = field(default_factory=dict)  # local date → alerts opened
    timezone: str = "Asia/Shanghai"

    @property
    def days(self) -> int:
        if self.start is None or self.end is None:
            return 0
        tz = ZoneInfo(self.timezone)
        first = self.start.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz).date()
        # a replay that stops at midnight has not seen any of the next day
        end = self.end - timedelta(microseconds=1) if self.end > self.start else self.end
        last = end.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz).date()
        return (last - first).days + 1

    def as_dict(self) -> dict[str, Any]:
        per_day = sorted(self.per_day.values())
        quiet = self.days - len(self.per_day)
        counts = [0] * max(quiet, 0) + per_day
        return {
            "events": self.events,
            "rejected": self.rejected,
            "steps": self.steps,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "days": self.days,
            "alerts": self.alerts,
            "by_kind": self.by_kind,
            "by_rule": self.by_rule,
            "alerts_per_day": {
                "mean": round(self.alerts / self.days, 2) if self.days else 0.0,
                "median": _median(counts),
                "max": per_day[-1] if per_day else 0,
            },
            "per_day": dict(sorted(self.per_day.items())),
            "timezone": self.timezone,
        }


def _median(values: list[int]) -> float:
    if not values:
        return 0.0
    n = len(values)
    mid = n // 2
    return float(values[mid]) if n % 2 else (values[mid - 1] + values[mid]) / 2


def shortest_window(monitor: Monitor) -> timedelta:
    """The longest batch that cannot hide a deadline: the shortest warning or target of the
    monitor's policies (business time never runs faster than the wall clock), less a minute;
    an hour when there is no policy."""
    shortest = monitor.timers.shortest_wait()
    if shortest is None:
        return timedelta(hours=1)
    return timedelta(seconds=max(shortest - 60, 1))


class _Resumes:
    """Tells, event by event in time order, whether an event brings back a timer that may be
    past its instant: a reopen, or a status that ends a pause or a solve. The batch ends with
    such an event, so the monitor sees the case live before what follows."""

    def __init__(self, pause: frozenset[str]) -> None:
        self.stopped = pause | frozenset(DONE_STATUSES)
        self.status: dict[str, str] = {}

    def __call__(self, ev: Event) -> bool:
        new = ev.new_status()
        if new is None:
            return False
        old = self.status.get(ev.case_id)
        self.status[ev.case_id] = new
        return ev.type == "case_reopened" or (old in self.stopped and new not in self.stopped)


def replay(
    monitor: Monitor,
    events: Iterable[Mapping[str, Any]],
    *,
    until: datetime | None = None,
    window: timedelta | None = None,
    timezone: str = "Asia/Shanghai",
    source: str = "replay",
) -> ReplayReport:
    """Feed ``events`` (raw event dicts) through ``monitor`` in time order; alerts land in its
    store as if it had run live. ``until`` (naive UTC) is where the clock stops (default: the
    last event). Events that do not parse are stored as intake rejects and counted."""
    report = ReplayReport(timezone=timezone)
    timed: list[tuple[datetime, int, Mapping[str, Any], Event]] = []
    bad: list[Mapping[str, Any]] = []
    for i, raw in enumerate(events):
        parsed = parse_event(raw)
        if isinstance(parsed, str):
            bad.append(raw)
        else:
            timed.append((parsed.at, i, raw, parsed))
    timed.sort(key=lambda t: (t[0], t[1]))
    report.events = len(timed) + len(bad)
    if not timed:
        return report
    start = timed[0][0]
    stop = until or timed[-1][0]
    report.start, report.end = start, stop
    span = window or shortest_window(monitor)
    resumes = _Resumes(monitor.timers.pause_statuses())
    if bad:
        report.rejected += accept(monitor.store, bad, start, source=source).counts()["rejected"]
    monitor.start(start)

    def step(now: datetime) -> None:
        monitor.step(now)
        report.steps += 1

    def deadlines_until(t: datetime) -> None:
        while (due := monitor.timers.next_deadline()) is not None and due < t:
            step(due)

    i = 0
    while i < len(timed) and timed[i][0] <= stop:
        first = timed[i][0]
        deadlines_until(first)
        limit = first + span
        due = monitor.timers.next_deadline()
        if due is not None and due < limit:
            limit = due
        j = i
        while j < len(timed) and timed[j][0] <= stop and (j == i or timed[j][0] < limit):
            j += 1
            if resumes(timed[j - 1][3]):
                break
        now = timed[j - 1][0]
        result = accept(monitor.store, [raw for _, _, raw, _ in timed[i:j]], now, source=source)
        report.rejected += result.counts()["rejected"]
        step(now)
        i = j
    deadlines_until(stop)
    step(stop)

    tz = ZoneInfo(timezone)
    utc = ZoneInfo("UTC")
    with monitor.store.session() as s:
        rows = s.execute(
            select(AlertRow.kind, AlertRow.rule, AlertRow.starts_at).where(
                AlertRow.starts_at >= start, AlertRow.starts_at <= stop
            )
        ).all()
    report.alerts = len(rows)
    report.by_kind = dict(Counter(r.kind for r in rows))
    report.by_rule = dict(Counter(r.rule for r in rows))
    report.per_day = dict(
        Counter(r.starts_at.replace(tzinfo=utc).astimezone(tz).date().isoformat() for r in rows)
    )
    return report
