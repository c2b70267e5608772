"""Twelve weeks of the demo through the live monitor: the planted overdue backlog raises the
SLA alerts the generator documents, once per overdue ticket, and nothing else floods.

The known answer comes from ``tickets.csv`` itself, read with pandas: a ticket is overdue when
its latest resolution is after ``due_at`` or it is still open at the export and ``due_at`` has
passed. The monitor never sees that file's ``due_at``: it works the deadlines out from the
events and the ``demo-due`` policy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select

from servq.app_store import open_store
from servq.demo.events import demo_events, demo_policy_path
from servq.demo.generator import generate_demo
from servq.demo.planted import SHORTAGE_TEAMS, shortage_week
from servq.monitor.alerts.tables import AlertRow
from servq.monitor.replay import ReplayReport, replay
from servq.monitor.runtime import Monitor, MonitorConfig

START = date(2025, 9, 1)
EXPORT = datetime(2025, 11, 23, 16, 0)  # 2025-11-24 00:00 Beijing, as naive UTC


@dataclass
class Replayed:
    tickets: pd.DataFrame
    events: pd.DataFrame
    report: ReplayReport
    alerts: list[AlertRow]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    root = tmp_path_factory.mktemp("replay")
    manifest = generate_demo(root / "in", size=2000, seed=7)
    assert manifest.end == date(2025, 11, 24)
    ws = root / "ws"
    demo_policy_path(ws / "sla")
    with open_store(ws) as store:
        monitor = Monitor(store, ws, MonitorConfig(policies=("demo-due",)))
        report = replay(monitor, demo_events(root / "in"), until=EXPORT)
        with store.session() as s:
            alerts = list(s.scalars(select(AlertRow)))
            s.expunge_all()
    tickets = pd.read_csv(root / "in" / "tickets.csv", dtype=str)
    events = pd.read_csv(root / "in" / "ticket_events.csv", dtype=str)
    return Replayed(tickets, events, report, alerts)


def overdue_tickets(t: pd.DataFrame) -> set[str]:
    due = pd.to_datetime(t["due_at"], utc=True)
    resolved = pd.to_datetime(t["resolved_at"], utc=True)
    export = pd.Timestamp("2025-11-24T00:00:00+08:00")
    late = (resolved > due) | (resolved.isna() & (due < export))
    return set(t.loc[late, "ticket_id"])


def test_every_overdue_ticket_raises_a_breach_and_no_other_does(replayed: Replayed) -> None:
    expected = overdue_tickets(replayed.tickets)
    assert 150 < len(expected) < 400  # about 10% of 2,000 tickets, more in the shortage week
    breached = {a.labels["case_id"] for a in replayed.alerts if a.kind == "sla_breach"}
    assert breached == expected
    assert replayed.report.rejected == 0


def test_one_alert_per_ticket_and_episode(replayed: Replayed) -> None:
    # a warning turns into the breach on the same alert; a second alert only comes when a
    # ticket solved late is reopened (a new breach episode), never twice for one episode
    reopened = set(replayed.tickets.loc[replayed.tickets["reopened"] == "1", "ticket_id"])
    per_case = Counter(a.labels["case_id"] for a in replayed.alerts)
    for case_id, n in per_case.items():
        assert n == 1 or case_id in reopened, case_id
    opened = Counter((a.labels["case_id"], a.starts_at) for a in replayed.alerts)
    assert max(opened.values()) == 1
    # an alert opens at the warning instant (80% of the target) or at the due time: the
    # monitor woke up for it; a ticket reopened after its due time opens one at the reopen
    hours = {"urgent": 4, "high": 8, "normal": 24, "low": 72}
    t = replayed.tickets.set_index("ticket_id")
    reopens = replayed.events[replayed.events["activity"] == "reopened"]
    reopened_at = {
        (c, utc(at)) for c, at in zip(reopens["ticket_id"], reopens["timestamp"], strict=True)
    }
    for a in replayed.alerts:
        case_id = a.labels["case_id"]
        row = t.loc[case_id]
        created = utc(row["created_at"])
        target = timedelta(hours=hours[row["priority"]])
        assert (
            a.starts_at in (created + target, created + 0.8 * target)
            or (case_id, a.starts_at) in reopened_at
        ), (case_id, a.starts_at)


def utc(text: str) -> datetime:
    moment: datetime = pd.Timestamp(text).tz_convert("UTC").tz_localize(None).to_pydatetime()
    return moment


def test_the_shortage_week_stands_out_and_nothing_floods(replayed: Replayed) -> None:
    week = shortage_week(START, 12)
    assert week == date(2025, 10, 20)
    per_day = pd.Series(replayed.report.per_day, dtype=float)
    per_day.index = pd.to_datetime(per_day.index)
    per_day = per_day.reindex(pd.date_range("2025-09-01", "2025-11-23"), fill_value=0)
    weekly = per_day.resample("W-SUN").sum()
    shortage = weekly[pd.Timestamp("2025-10-26")]
    others = weekly.drop(pd.Timestamp("2025-10-26"))
    # the generator documents about 3x the median week's overdue share in that week
    assert shortage >= 2 * others.median()
    assert shortage == weekly.max()
    # the shortage teams carry that week's breaches
    in_week = [
        a
        for a in replayed.alerts
        if a.kind == "sla_breach"
        and datetime(2025, 10, 19, 16) <= a.starts_at < datetime(2025, 10, 26, 16)
    ]
    share = sum(a.labels.get("team") in SHORTAGE_TEAMS for a in in_week) / len(in_week)
    assert share > 0.5
    # no flood: on an ordinary day a handful of alerts, the worst day well under 1% of tickets
    assert others.max() <= 2 * others.median()
    assert per_day.max() <= 20
    summary = replayed.report.as_dict()
    assert summary["alerts"] == len(replayed.alerts)
    assert summary["days"] == 84  # 1 Sep–23 Nov in Beijing; the export is 24 Nov 00:00
