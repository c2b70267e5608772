"""SLA timers of open cases: deadlines on cn-office worked out by hand, warnings and breaches
raised exactly once, pauses, stops, and restarts from SQLite and PostgreSQL.

cn-office is open 09:00–12:00 and 13:30–18:00 Beijing time (UTC+8) on working days. Times are
written in Beijing time and converted with ``bj`` to the naive UTC the timers work in.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

import servq
from servq.app_store import Store, open_store
from servq.monitor.signals import Signal
from servq.monitor.state import CaseState
from servq.monitor.timers import SlaTimer, TimerRow, TimerService
from servq.sla import SlaPolicy, evaluate, parse_policy

DESK = parse_policy(
    """
name: desk
calendar: cn-office
pause_statuses: [pending]
warn_at: 0.8
rules:
  - when: {priority: urgent}
    targets: {first_reply: 30m}
  - targets: {first_reply: 1h, next_reply: 30m, resolution: 1bd}
"""
)
# the same targets, with the time between a solve and a reopen not counted
DESK_SOLVED_PAUSES = parse_policy(
    """
name: desk-solved
calendar: cn-office
pause_statuses: [pending, solved]
rules:
  - targets: {resolution: 1bd}
"""
)


def bj(text: str) -> datetime:
    """A Beijing wall-clock time as naive UTC."""
    return datetime.fromisoformat(text) - timedelta(hours=8)


def make_case(
    created: str, *statuses: tuple[str, str], case_id: str = "C-1", **fields: Any
) -> CaseState:
    """A case created at ``created`` (Beijing) with later ``(status, Beijing time)`` changes."""
    history = [("new", bj(created))] + [(s, bj(t)) for s, t in statuses]
    case = CaseState(case_id, bj(created), history, team="hotline", agent="li", **fields)
    case.version = len(history)
    return case


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path, url=f"sqlite:///{tmp_path / 'app.db'}") as s:
        yield s


def service(store: Store, *policies: SlaPolicy) -> TimerService:
    return TimerService(store, list(policies) or DESK)


def timer(svc: TimerService, target: str, case_id: str = "C-1", policy: str = "desk") -> TimerRow:
    (row,) = [r for r in svc.read(case_id) if r.target == target and r.policy == policy]
    return row


def kinds(signals: list[Signal]) -> list[tuple[str, str, bool]]:
    return [(s.kind, s.labels["target"], s.firing) for s in signals]


# -- deadlines on the business clock ----------------------------------------------------------
def test_lunch_break_moves_the_deadline(store: Store) -> None:
    svc = service(store)
    # Friday 11:30: 30 min before lunch, then 30 min from 13:30 → 14:00
    assert svc.update(make_case("2025-03-07 11:30"), bj("2025-03-07 11:30")) == []
    first = timer(svc, "first_reply")
    assert (first.state, first.due_at) == ("running", bj("2025-03-07 14:00"))
    # 80 % of 1 h = 48 min: 30 min before lunch, 18 min after → 13:48
    assert first.warn_at == bj("2025-03-07 13:48")
    # 1bd = 7.5 h: 0.5 h + 4.5 h on Friday, 2.5 h on Monday 10 March → 11:30
    assert timer(svc, "resolution").due_at == bj("2025-03-10 11:30")
    assert {r.target for r in svc.read("C-1")} == {"first_reply", "resolution"}  # no message
    assert svc.next_deadline() == bj("2025-03-07 13:48")
    assert first.labels == {
        "case_id": "C-1",
        "team": "hotline",
        "agent": "li",
        "policy": "desk",
        "target": "first_reply",
    }


def test_friday_evening_is_due_on_monday(store: Store) -> None:
    svc = service(store)
    svc.update(make_case("2025-03-07 17:00"), bj("2025-03-07 17:00"))
    assert timer(svc, "first_reply").due_at == bj("2025-03-07 18:00")
    # 1 h on Friday, then 6.5 h on Monday: 09–12 and 13:30–17:00
    assert timer(svc, "resolution").due_at == bj("2025-03-10 17:00")


def test_spring_festival_2025_with_adjusted_working_days(store: Store) -> None:
    """28 Jan – 4 Feb 2025 closed; Sunday 26 January and Saturday 8 February were working days."""
    svc = service(store)
    cases = [
        make_case("2025-01-27 17:00", case_id="before-holiday"),  # Monday, last day before
        make_case("2025-01-25 10:00", case_id="saturday"),  # a closed Saturday
        make_case("2025-02-07 17:30", case_id="friday-after"),
    ]
    assert svc.update_many(cases, bj("2025-02-07 17:30")) == []
    # 1 h on 27 January, then nothing until Wednesday 5 February: 3 h + 3.5 h → 17:00
    assert timer(svc, "resolution", "before-holiday").due_at == bj("2025-02-05 17:00")
    assert timer(svc, "first_reply", "before-holiday").due_at == bj("2025-01-27 18:00")
    # the clock starts at the next opening: Sunday 26 January 09:00 (a working day)
    assert timer(svc, "first_reply", "saturday").due_at == bj("2025-01-26 10:00")
    assert timer(svc, "resolution", "saturday").due_at == bj("2025-01-26 18:00")
    # 30 min on Friday, 30 min on Saturday 8 February (a working day)
    assert timer(svc, "first_reply", "friday-after").due_at == bj("2025-02-08 09:30")


def test_deadlines_are_those_of_sla_evaluate(store: Store, ws: servq.Workspace) -> None:
    """The warehouse's SLA evaluation and the live timers agree on the same cases."""
    ticket = {"priority": "normal", "channel": "email", "resolved_at": None, "closed_at": None}
    tickets = [
        {**ticket, "ticket_id": "A", "created_at": "2025-03-07 11:30", "status": "new"},
        {**ticket, "ticket_id": "B", "created_at": "2025-03-10 09:00", "status": "open"},
    ]
    tickets[0]["first_reply_at"], tickets[1]["first_reply_at"] = None, "2025-03-10 09:30"
    event = {"ticket_id": "B", "activity": "status_changed", "public": "false"}
    events = [
        {**event, "timestamp": "2025-03-10 10:00", "status": "pending", "actor_type": "agent"},
        {**event, "timestamp": "2025-03-10 14:00", "status": "open", "actor_type": "customer"},
        {
            **event,
            "activity": "customer_replied",
            "timestamp": "2025-03-10 14:10",
            "status": None,
            "actor_type": "customer",
            "public": "true",
        },
    ]
    assert ws.ingest_frame(pd.DataFrame(tickets), "tickets").quarantined == 0
    assert ws.ingest_frame(pd.DataFrame(events), "case-events").quarantined == 0
    now = bj("2025-03-10 14:30")
    rows = evaluate(ws, DESK, as_of=now)

    svc = service(store)
    a = make_case("2025-03-07 11:30", case_id="A")
    b = make_case(
        "2025-03-10 09:00",
        ("pending", "2025-03-10 10:00"),
        ("open", "2025-03-10 14:00"),
        case_id="B",
        first_reply_at=bj("2025-03-10 09:30"),
        awaiting_reply_since=bj("2025-03-10 14:10"),
    )
    svc.update_many([a, b], now)
    timers = {(r.case_id, r.target): r for c in "AB" for r in svc.read(c)}
    assert len(timers) == len(rows) == 5  # A: first reply, resolution; B: all three
    same_state = {
        "active": "running",
        "at_risk": "running",
        "breached": "breached",
        "achieved": "achieved",
    }
    for expected in rows.itertuples():
        got = timers[(expected.case_id, expected.target)]
        assert (got.state, got.due_at, got.used_seconds) == (
            same_state[expected.state],
            expected.due_at,
            expected.elapsed_seconds,
        ), expected
    # by hand: 7.5 h from Monday 09:00, 2.5 business hours pending → Tuesday 11:30
    assert timer(svc, "resolution", "B").due_at == bj("2025-03-11 11:30")


def test_many_cases_at_once_get_their_own_deadlines(store: Store) -> None:
    svc = service(store)
    start = bj("2025-03-07 11:00")
    cases = []
    for i in range(1, 1501):  # one a second after 11:00
        c = make_case("2025-03-07 11:00", case_id=f"bulk-{i}")
        c.created_at = start + timedelta(seconds=i)
        c.statuses = [("new", c.created_at)]
        cases.append(c)
    svc.update_many(cases, start + timedelta(seconds=1500))
    # 3600 − i seconds before lunch, the last i seconds after 13:30
    with store.session() as s:
        query = select(SlaTimer.case_id, SlaTimer.due_at).where(SlaTimer.target == "first_reply")
        due = dict(s.execute(query).all())
    expected = {f"bulk-{i}": bj("2025-03-07 13:30") + timedelta(seconds=i) for i in range(1, 1501)}
    assert due == expected
    assert len(svc) == 3000  # first reply and resolution of each


# -- pauses, stops, reopening -----------------------------------------------------------------
def test_pause_then_resume_moves_the_deadline_by_the_paused_time(store: Store) -> None:
    svc = service(store)
    replied = {"first_reply_at": bj("2025-03-10 09:30"), "agent_replies": 1}
    svc.update(make_case("2025-03-10 09:00", **replied), bj("2025-03-10 09:30"))
    assert timer(svc, "resolution").due_at == bj("2025-03-10 18:00")  # Monday, 7.5 h

    pending = make_case("2025-03-10 09:00", ("pending", "2025-03-10 10:00"), **replied)
    svc.update(pending, bj("2025-03-10 11:00"))
    paused = timer(svc, "resolution")
    assert (paused.state, paused.due_at, paused.warn_at) == ("paused", None, None)
    assert paused.paused_since == bj("2025-03-10 10:00")
    assert paused.used_seconds == 3600  # 09:00–10:00
    assert svc.next_deadline() is None  # nothing to wake up for while paused
    assert svc.due(bj("2025-03-10 18:30")) == []

    resumed = make_case(
        "2025-03-10 09:00",
        ("pending", "2025-03-10 10:00"),
        ("open", "2025-03-10 14:00"),
        **replied,
    )
    svc.update(resumed, bj("2025-03-10 14:00"))
    # paused 10:00–12:00 and 13:30–14:00: 2.5 business hours, so 18:00 Monday → Tuesday 11:30
    running = timer(svc, "resolution")
    assert (running.state, running.due_at) == ("running", bj("2025-03-11 11:30"))
    assert running.used_seconds == 3600
    # 6 h (80 %): 1 h used, 4 h to 18:00, 1 h on Tuesday → 10:00
    assert svc.next_deadline() == bj("2025-03-11 10:00")


def test_reopened_case_resumes_its_resolution_clock(store: Store) -> None:
    svc = service(store, DESK, DESK_SOLVED_PAUSES)
    solved = make_case("2025-03-10 09:00", ("solved", "2025-03-10 10:00"))
    svc.update(solved, bj("2025-03-10 10:00"))
    assert timer(svc, "resolution").state == "achieved"
    assert timer(svc, "resolution").stopped_at == bj("2025-03-10 10:00")

    reopened = make_case(
        "2025-03-10 09:00", ("solved", "2025-03-10 10:00"), ("open", "2025-03-10 11:00")
    )
    svc.update(reopened, bj("2025-03-10 11:00"))
    counted = timer(svc, "resolution")
    # desk counts the solved hour: 2 h used at 11:00, due as if never solved
    assert (counted.state, counted.used_seconds, counted.stopped_at) == ("running", 7200, None)
    assert counted.due_at == bj("2025-03-10 18:00")
    # desk-solved does not: 1 h used, the deadline one business hour later (Tuesday 10:00)
    paused = timer(svc, "resolution", policy="desk-solved")
    assert (paused.used_seconds, paused.due_at) == (3600, bj("2025-03-11 10:00"))


def test_first_reply_clears_its_warning_while_resolution_keeps_running(store: Store) -> None:
    svc = service(store)
    svc.update(make_case("2025-03-07 11:30"), bj("2025-03-07 11:30"))
    (warning,) = svc.due(bj("2025-03-07 13:48"))
    assert (warning.kind, warning.firing, warning.severity) == ("sla_warning", True, "warning")

    replied = make_case("2025-03-07 11:30", first_reply_at=bj("2025-03-07 13:50"), agent_replies=1)
    replied.version += 1
    (cleared,) = svc.update(replied, bj("2025-03-07 13:50"))
    assert (cleared.kind, cleared.firing) == ("sla_warning", False)
    assert cleared.fingerprint == warning.fingerprint  # resolves the very alert raised
    assert "C-1" in cleared.summary_en and "首次响应" in cleared.summary_zh
    first = timer(svc, "first_reply")
    assert (first.state, first.stopped_at, first.warned) == (
        "achieved",
        bj("2025-03-07 13:50"),
        False,
    )
    assert first.used_seconds == 50 * 60  # 30 min + 20 min
    assert svc.due(bj("2025-03-07 14:00")) == []  # no breach of an answered target
    assert timer(svc, "resolution").state == "running"
    # resolution warns at 6 h: 5 h on Friday, 1 h on Monday → 10:00
    assert svc.next_deadline() == bj("2025-03-10 10:00")
    # the same state again (the monitor re-reads recent cases) clears nothing twice
    assert svc.update(replied, bj("2025-03-07 13:55")) == []


def test_case_closed_without_a_reply_cancels_the_first_reply_timer(store: Store) -> None:
    svc = service(store)
    svc.update(make_case("2025-03-07 11:30"), bj("2025-03-07 11:30"))
    closed = make_case("2025-03-07 11:30", ("closed", "2025-03-07 12:30"))
    assert svc.update(closed, bj("2025-03-07 13:31")) == []  # nothing had been raised
    assert timer(svc, "first_reply").state == "cancelled"
    resolution = timer(svc, "resolution")
    assert (resolution.state, resolution.used_seconds) == ("achieved", 1800)  # 11:30–12:00
    assert svc.next_deadline() is None
    assert svc.due(bj("2025-03-10 12:00")) == []


def test_next_reply_cycles(store: Store) -> None:
    svc = service(store)
    fields = {"first_reply_at": bj("2025-03-10 09:30"), "agent_replies": 1}
    waiting = make_case("2025-03-10 09:00", awaiting_reply_since=bj("2025-03-10 10:00"), **fields)
    svc.update(waiting, bj("2025-03-10 10:00"))
    cycle = timer(svc, "next_reply")
    # 30 min → 10:30; 80 % = 24 min → 10:24
    assert (cycle.due_at, cycle.warn_at) == (bj("2025-03-10 10:30"), bj("2025-03-10 10:24"))

    answered = make_case("2025-03-10 09:00", **fields)
    answered.version += 1
    assert svc.update(answered, bj("2025-03-10 10:20")) == []
    done = timer(svc, "next_reply")
    assert (done.state, done.stopped_at, done.used_seconds) == (
        "achieved",
        bj("2025-03-10 10:20"),
        1200,
    )
    assert svc.due(bj("2025-03-10 10:40")) == []

    again = make_case("2025-03-10 09:00", awaiting_reply_since=bj("2025-03-10 11:50"), **fields)
    again.version += 2
    svc.update(again, bj("2025-03-10 11:50"))
    # 10 min before lunch, 20 min after → 13:50; warning at 24 min → 13:44
    assert timer(svc, "next_reply").due_at == bj("2025-03-10 13:50")
    assert timer(svc, "next_reply").state == "running"
    (warning,) = svc.due(bj("2025-03-10 13:44"))
    assert warning.rule == "sla.desk.next_reply" and "再次响应" in warning.summary_zh

    # a reply and a new message between two reads of the case: the raised warning of the
    # answered cycle is cleared, and the new cycle starts with nothing raised
    later = make_case("2025-03-10 09:00", awaiting_reply_since=bj("2025-03-10 14:30"), **fields)
    later.version += 4
    (cleared,) = svc.update(later, bj("2025-03-10 14:30"))
    assert (cleared.fingerprint, cleared.firing) == (warning.fingerprint, False)
    assert cleared.details["reason"] == "answered" and "replied" in cleared.summary_en
    fresh = timer(svc, "next_reply")
    assert (fresh.started_at, fresh.warned, fresh.due_at) == (
        bj("2025-03-10 14:30"),
        False,
        bj("2025-03-10 15:00"),
    )
    assert kinds(svc.due(bj("2025-03-10 14:54"))) == [("sla_warning", "next_reply", True)]


def test_an_older_case_state_does_not_undo_a_newer_one(store: Store) -> None:
    svc = service(store)
    replied = make_case("2025-03-07 11:30", first_reply_at=bj("2025-03-07 12:00"))
    replied.version = 5
    svc.update(replied, bj("2025-03-07 12:00"))
    stale = make_case("2025-03-07 11:30")
    stale.version = 4
    svc.update(stale, bj("2025-03-07 12:01"))
    assert timer(svc, "first_reply").state == "achieved"
    assert timer(svc, "first_reply").version == 5


def test_a_longer_target_withdraws_a_raised_breach(store: Store) -> None:
    svc = service(store)
    urgent = make_case("2025-03-07 09:00", priority="urgent")
    svc.update(urgent, bj("2025-03-07 09:00"))
    # 30 min → 09:30 (warning 80 % at 09:24)
    raised = svc.due(bj("2025-03-07 09:30"))
    assert kinds(raised) == [
        ("sla_warning", "first_reply", True),
        ("sla_breach", "first_reply", True),
    ]
    normal = make_case("2025-03-07 09:00", priority="normal")
    normal.version += 1
    # 40 min used of a 1 h target: under both the breach and the 48 min warning
    (cleared,) = svc.update(normal, bj("2025-03-07 09:40"))
    assert kinds([cleared]) == [("sla_breach", "first_reply", False)]
    assert cleared.details["reason"] == "withdrawn"
    # cleared with the labels it was raised with (priority urgent), so it is the same alert
    assert cleared.fingerprint == raised[0].fingerprint == raised[1].fingerprint
    assert timer(svc, "first_reply").due_at == bj("2025-03-07 10:00")
    (warning,) = svc.due(bj("2025-03-07 09:48"))
    assert warning.labels["priority"] == "normal"


def test_warn_at_one_turns_warnings_off(store: Store) -> None:
    no_warning = parse_policy(
        "name: strict\ncalendar: 24x7\nwarn_at: 1\nrules:\n  - targets: {first_reply: 1h}\n"
    )
    svc = service(store, no_warning)
    svc.update(make_case("2025-03-08 23:30"), bj("2025-03-08 23:30"))  # calendar time
    row = timer(svc, "first_reply", policy="strict")
    assert (row.due_at, row.warn_at) == (bj("2025-03-09 00:30"), None)
    assert svc.next_deadline() == bj("2025-03-09 00:30")
    assert kinds(svc.due(bj("2025-03-09 00:30"))) == [("sla_breach", "first_reply", True)]


# -- raising once -----------------------------------------------------------------------------
def test_warning_then_breach_each_exactly_once(store: Store) -> None:
    svc = service(store)
    svc.update(make_case("2025-03-07 11:30"), bj("2025-03-07 11:30"))
    assert svc.due(bj("2025-03-07 13:47:59")) == []
    (warning,) = svc.due(bj("2025-03-07 13:48"))
    assert warning.rule == "sla.desk.first_reply"
    assert (warning.value, warning.threshold) == (2880, 2880)
    assert "80%" in warning.summary_en and "2025-03-07 14:00" in warning.summary_en
    assert "12m" in warning.summary_en and "12分钟" in warning.summary_zh
    assert svc.next_deadline() == bj("2025-03-07 14:00")

    (breach,) = svc.due(bj("2025-03-07 14:00"))
    assert (breach.kind, breach.severity, breach.rule) == (
        "sla_breach",
        "critical",
        "sla.desk.first_reply",
    )
    assert (breach.value, breach.threshold) == (3600, 3600)
    assert "C-1" in breach.summary_en and "2025-03-07 14:00 Asia/Shanghai" in breach.summary_en
    assert "首次响应" in breach.summary_zh and "超时" in breach.summary_zh
    assert breach.labels["case_id"] == "C-1" and breach.labels["target"] == "first_reply"
    # one alert per timer: the breach raises the warning's alert, it does not open another
    assert breach.fingerprint == warning.fingerprint
    assert svc.due(bj("2025-03-07 14:00:01")) == []
    # a re-read of the unchanged case schedules nothing already raised
    assert svc.update(make_case("2025-03-07 11:30"), bj("2025-03-07 14:30")) == []
    assert svc.due(bj("2025-03-07 15:00")) == []
    row = timer(svc, "first_reply")
    assert (row.state, row.warned, row.breached) == ("breached", True, True)


# -- restarts ---------------------------------------------------------------------------------
def restart_story(url: str, tmp_path: Path) -> None:
    """Timers pending at a restart come back; a breach passed while down is raised once."""
    with open_store(tmp_path, url=url) as store:
        svc = service(store)
        svc.update(make_case("2025-03-07 11:30"), bj("2025-03-07 11:30"))

    with open_store(tmp_path, url=url) as store:  # restart before any deadline
        svc = service(store)
        assert svc.next_deadline() is None
        assert svc.load(bj("2025-03-07 13:00")) == []
        assert svc.next_deadline() == bj("2025-03-07 13:48")
        assert kinds(svc.due(bj("2025-03-07 13:48"))) == [("sla_warning", "first_reply", True)]

    with open_store(tmp_path, url=url) as store:  # down from 13:48 to 15:00: breach at 14:00
        svc = service(store)
        (breach,) = svc.load(bj("2025-03-07 15:00"))
        assert (breach.kind, breach.firing, breach.labels["target"]) == (
            "sla_breach",
            True,
            "first_reply",
        )
        assert breach.value == 7200  # 1 h target + 1 business hour over (14:00–15:00)
        assert "over by 1h" in breach.summary_en and "1小时" in breach.summary_zh
        assert svc.next_deadline() == bj("2025-03-10 10:00")  # the resolution warning

    with open_store(tmp_path, url=url) as store:  # again: nothing is raised twice
        svc = service(store)
        assert svc.load(bj("2025-03-07 15:30")) == []
        assert svc.due(bj("2025-03-07 16:00")) == []
        assert svc.next_deadline() == bj("2025-03-10 10:00")
        row = timer(svc, "first_reply")
        assert (row.state, row.warned, row.breached) == ("breached", True, True)


def test_restart_on_sqlite(tmp_path: Path) -> None:
    restart_story(f"sqlite:///{tmp_path / 'app.db'}", tmp_path)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        pytest.skip("no PostgreSQL server listening on 127.0.0.1:5432")
    url: str = request.getfixturevalue("pg_url")  # a fresh database, dropped afterwards
    return url


def test_restart_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    restart_story(postgres_url, tmp_path)
