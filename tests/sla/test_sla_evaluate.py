"""SLA evaluation on hand-built cases, each answer worked out by hand in the comments.

cn-office is open 09:00-12:00 and 13:30-18:00 Beijing time on China's working days: 7.5 open
hours a day. Times below are Beijing time; ``bj`` turns them into the naive UTC the warehouse
stores. 2025-01-03 is a Friday.
"""

from __future__ import annotations

import pandas as pd
import pytest
from sla_helpers import add_events, add_tickets, bj

import servq
from servq.errors import ServqError
from servq.sla import COLUMNS, attainment, evaluate, parse_policy

POLICY = parse_policy(
    """\
name: test
calendar: cn-office
pause_statuses: [pending, on_hold]
warn_at: 0.8
rules:
  - name: urgent
    when: {priority: urgent}
    targets: {first_reply: 30m, resolution: 4h}
  - name: phone
    when: {channel: phone}
    targets: {first_reply: 15m}
  - name: default
    targets: {first_reply: 1h, next_reply: 2h, resolution: 8h}
"""
)
H = 3600.0


def ticket(case_id: str, created: str, **fields: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "ticket_id": case_id,
        "created_at": created,
        "priority": "normal",
        "channel": "email",
        "status": "open",
        "first_reply_at": None,
        "resolved_at": None,
        "closed_at": None,
    }
    row.update(fields)
    return row


def status(case_id: str, when: str, to: str, actor: str = "agent") -> dict[str, str | None]:
    return {
        "ticket_id": case_id,
        "activity": "status_changed",
        "timestamp": when,
        "status": to,
        "actor_type": actor,
        "public": "false",
    }


def message(case_id: str, when: str, actor: str) -> dict[str, str | None]:
    activity = "customer_replied" if actor == "customer" else "agent_replied"
    return {
        "ticket_id": case_id,
        "activity": activity,
        "timestamp": when,
        "status": None,
        "actor_type": actor,
        "public": "true",
    }


def row(df: pd.DataFrame, case_id: str, target: str) -> pd.Series:
    found = df[(df.case_id == case_id) & (df.target == target)]
    assert len(found) == 1, found
    return found.iloc[0]


def test_friday_evening_case_is_due_monday_morning(ws: servq.Workspace) -> None:
    add_tickets(ws, [ticket("FRI", "2025-01-03 17:30")])
    # first reply 1 h: Friday 17:30-18:00 is 30 min, the weekend is closed, Monday opens at
    # 09:00, so the other 30 min end at Monday 09:30
    df = evaluate(ws, POLICY, as_of=bj("2025-01-06 09:00"))
    r = row(df, "FRI", "first_reply")
    assert r.due_at == bj("2025-01-06 09:30")
    assert (r.elapsed_seconds, r.seconds_left, r.state) == (1800, 1800, "active")
    # resolution 8 h: Friday 0.5 h + Monday 7.5 h = 8 h, so Monday 18:00 (a closing time)
    assert row(df, "FRI", "resolution").due_at == bj("2025-01-06 18:00")


def test_at_risk_from_80_percent_and_breached_at_the_due_time(ws: servq.Workspace) -> None:
    add_tickets(ws, [ticket("FRI", "2025-01-03 17:30")])
    # 80 % of 1 h is 48 min: 30 min on Friday + 18 min on Monday = Monday 09:18
    states = {
        "2025-01-06 09:17:59": ("active", 47 * 60 + 59),
        "2025-01-06 09:18:00": ("at_risk", 48 * 60),
        "2025-01-06 09:29:59": ("at_risk", 3599),
        "2025-01-06 09:30:00": ("breached", 3600),  # the due instant itself is a breach
        "2025-01-06 10:00:00": ("breached", 5400),
    }
    for as_of, (state, elapsed) in states.items():
        r = row(evaluate(ws, POLICY, as_of=bj(as_of)), "FRI", "first_reply")
        assert (r.state, r.elapsed_seconds) == (state, elapsed), as_of
        assert r.seconds_left == 3600 - elapsed
    # as_of may be given with an offset, as text
    df = evaluate(ws, POLICY, as_of="2025-01-06T09:18:00+08:00")
    assert row(df, "FRI", "first_reply").state == "at_risk"


def test_achieved_one_second_before_the_due_time_breached_at_it(ws: servq.Workspace) -> None:
    add_tickets(
        ws,
        [
            # created Monday 09:00, first reply due 10:00
            ticket("EARLY", "2025-01-06 09:00", first_reply_at="2025-01-06 09:59:59"),
            ticket("ONTIME", "2025-01-06 09:00", first_reply_at="2025-01-06 10:00:00"),
        ],
    )
    df = evaluate(ws, POLICY)
    early, ontime = row(df, "EARLY", "first_reply"), row(df, "ONTIME", "first_reply")
    assert (early.state, early.seconds_left, early.stopped_at) == (
        "achieved",
        1,
        bj("2025-01-06 09:59:59"),
    )
    assert (ontime.state, ontime.seconds_left) == ("breached", 0)
    assert early.due_at == ontime.due_at == bj("2025-01-06 10:00")
    assert early.ended_at == early.stopped_at


def test_pending_pushes_the_resolution_deadline(ws: servq.Workspace) -> None:
    add_tickets(
        ws,
        [
            ticket("PLAIN", "2025-01-06 09:00"),
            ticket("WAITED", "2025-01-06 09:00"),
            ticket("STILL", "2025-01-06 09:00"),
        ],
    )
    add_events(
        ws,
        [
            # waiting on the customer Monday 10:00-12:00: 2 business hours
            status("WAITED", "2025-01-06 10:00", "pending"),
            status("WAITED", "2025-01-06 12:00", "open", "customer"),
            # waiting from 10:00 and still waiting
            status("STILL", "2025-01-06 10:00", "pending"),
        ],
    )
    df = evaluate(ws, POLICY, as_of=bj("2025-01-06 15:00"))
    # 8 h from Monday 09:00: Monday holds 7.5 h, so Tuesday 09:30
    plain = row(df, "PLAIN", "resolution")
    assert plain.due_at == bj("2025-01-07 09:30")
    # two paused hours push it two business hours: Tuesday 11:30
    waited = row(df, "WAITED", "resolution")
    assert waited.due_at == bj("2025-01-07 11:30")
    assert waited.paused_seconds == 2 * H
    # 09:00-12:00 and 13:30-15:00 is 4.5 h of business time, 2 h of it paused
    assert (waited.elapsed_seconds, waited.state) == (2.5 * H, "active")
    # still pending at 15:00: paused 10:00-12:00 and 13:30-15:00 (3.5 h), 1 h used; the
    # other 7 h count from 15:00 as if the wait ended now: 3 h Monday, 3 h + 1 h Tuesday
    still = row(df, "STILL", "resolution")
    assert (still.state, still.paused_seconds, still.elapsed_seconds) == ("paused", 3.5 * H, H)
    assert still.due_at == bj("2025-01-07 14:30")


def test_a_pause_after_the_breach_does_not_move_the_deadline(ws: servq.Workspace) -> None:
    add_tickets(ws, [ticket("LATE", "2025-01-06 09:00", priority="urgent")])
    add_events(
        ws,
        [
            status("LATE", "2025-01-06 15:00", "pending"),
            status("LATE", "2025-01-07 10:00", "open", "customer"),
            status("LATE", "2025-01-07 11:00", "solved"),
        ],
    )
    r = row(evaluate(ws, POLICY), "LATE", "resolution")
    # 4 h from Monday 09:00 is 14:30, before the wait began at 15:00
    assert r.due_at == bj("2025-01-06 14:30")
    # Monday 09:00 → Tuesday 11:00 is 7.5 h + 2 h; paused Monday 15:00-18:00 and Tuesday
    # 09:00-10:00, 4 h: 5.5 h used of 4 h
    assert (r.state, r.elapsed_seconds, r.paused_seconds) == ("breached", 5.5 * H, 4 * H)
    assert r.seconds_left == -1.5 * H
    assert r.stopped_at == bj("2025-01-07 11:00") and r.rule == "urgent"


def test_national_day_2025_pushes_deadlines(ws: servq.Workspace) -> None:
    # 2025: 1–8 October closed; Sunday 28 September and Saturday 11 October are working days.
    # The built-in standard policy: default rule first reply 4h, resolution 3bd (22.5 h).
    add_tickets(
        ws,
        [
            ticket("EVE", "2025-09-30 17:00"),  # Tuesday, the last day before the holiday
            ticket("SAT", "2025-09-27 10:00"),  # an ordinary Saturday, closed
        ],
    )
    df = evaluate(ws, "standard", as_of=bj("2025-09-30 17:00"))
    # EVE first reply 4 h: 1 h on 30 Sep, closed 1–8 Oct, 3 h on Thursday 9 Oct → 12:00
    assert row(df, "EVE", "first_reply").due_at == bj("2025-10-09 12:00")
    # EVE resolution 22.5 h: 1 h + 7.5 h (9 Oct) + 7.5 h (10 Oct) = 16 h, then 6.5 h on the
    # working Saturday 11 Oct: 09:00-12:00 and 13:30-17:00 → 17:00
    assert row(df, "EVE", "resolution").due_at == bj("2025-10-11 17:00")
    # SAT waits for the working Sunday 28 Sep: first reply 09:00-12:00 + 13:30-14:30
    assert row(df, "SAT", "first_reply").due_at == bj("2025-09-28 14:30")
    # SAT resolution 22.5 h = three full working days 28, 29, 30 Sep → 30 Sep 18:00
    assert row(df, "SAT", "resolution").due_at == bj("2025-09-30 18:00")


def test_d_is_24_business_hours_and_bd_a_working_day(ws: servq.Workspace) -> None:
    add_tickets(ws, [ticket("MON", "2025-01-06 09:00")])
    policy = parse_policy(
        "name: days\ncalendar: cn-office\nrules:\n  - targets: {first_reply: 1bd, resolution: 1d}\n"
    )
    df = evaluate(ws, policy)
    # 1bd = 7.5 h: the whole of Monday → Monday 18:00
    assert row(df, "MON", "first_reply").due_at == bj("2025-01-06 18:00")
    # 1d = 24 business hours: Mon, Tue, Wed 7.5 h each (22.5 h) + 1.5 h Thursday → 10:30
    r = row(df, "MON", "resolution")
    assert r.due_at == bj("2025-01-09 10:30") and r.target_seconds == 24 * H


def test_first_matching_rule_wins(ws: servq.Workspace) -> None:
    add_tickets(
        ws,
        [
            ticket("U", "2025-01-06 09:00", priority="urgent", channel="phone"),
            ticket("P", "2025-01-06 09:00", priority="high", channel="phone"),
            ticket("N", "2025-01-06 09:00", priority=None, channel="chat"),
        ],
    )
    df = evaluate(ws, POLICY, as_of=bj("2025-01-06 09:05"))
    # urgent phone: the urgent rule comes before the phone rule
    assert (row(df, "U", "first_reply").rule, row(df, "U", "first_reply").target_seconds) == (
        "urgent",
        1800,
    )
    assert row(df, "P", "first_reply").target_seconds == 900
    # the phone rule sets no resolution target, and the first match decides: no default row
    assert df[(df.case_id == "P") & (df.target == "resolution")].empty
    # no priority: meets no condition, falls to the default
    assert row(df, "N", "first_reply").rule == "default"


def test_next_reply_cycles(ws: servq.Workspace) -> None:
    add_tickets(
        ws,
        [
            ticket("CHAT", "2025-01-06 09:00", first_reply_at="2025-01-06 09:10"),
            ticket(
                "DROP",
                "2025-01-06 09:00",
                first_reply_at="2025-01-06 09:10",
                closed_at="2025-01-06 10:30",
                status="closed",
            ),
        ],
    )
    add_events(
        ws,
        [
            # cycle 1: 10:00 → 13:45 is 2 h (to 12:00) + 15 min after lunch: over the 2 h
            message("CHAT", "2025-01-06 10:00", "customer"),
            message("CHAT", "2025-01-06 13:45", "agent"),
            # cycle 2: two customer messages, one cycle timed from the first: 14:00 → 15:00
            message("CHAT", "2025-01-06 14:00", "customer"),
            message("CHAT", "2025-01-06 14:30", "customer"),
            message("CHAT", "2025-01-06 15:00", "agent"),
            # closed (by the system, without a reply) before anyone answered: nobody waits
            message("DROP", "2025-01-06 10:00", "customer"),
        ],
    )
    each = evaluate(ws, POLICY, next_reply="each")
    cycles = each[(each.case_id == "CHAT") & (each.target == "next_reply")]
    assert cycles.cycle.tolist() == [1, 2]
    first, second = cycles.iloc[0], cycles.iloc[1]
    # 2 h from 10:00 is 12:00, the lunch closing time itself
    assert (first.due_at, first.elapsed_seconds, first.state) == (
        bj("2025-01-06 12:00"),
        2.25 * H,
        "breached",
    )
    assert (second.started_at, second.elapsed_seconds, second.state) == (
        bj("2025-01-06 14:00"),
        H,
        "achieved",
    )
    assert each[(each.case_id == "DROP") & (each.target == "next_reply")].empty
    # worst: one row per case, the breached cycle
    worst = evaluate(ws, POLICY)
    r = row(worst, "CHAT", "next_reply")
    assert (r.cycle, r.state) == (1, "breached")
    # the first reply is not a next reply: it has its own target
    assert row(worst, "CHAT", "first_reply").state == "achieved"


def test_reopened_case_runs_until_solved_again(ws: servq.Workspace) -> None:
    add_tickets(ws, [ticket("RE", "2025-01-06 09:00", first_reply_at="2025-01-06 09:10")])
    add_events(
        ws,
        [
            status("RE", "2025-01-06 10:00", "solved"),
            status("RE", "2025-01-06 11:00", "open", "customer"),
        ],
    )
    # reopened at 11:00 and not solved again: running, 3 h + 1.5 h used by 15:00
    df = evaluate(ws, POLICY, as_of=bj("2025-01-06 15:00"))
    r = row(df, "RE", "resolution")
    assert (r.state, r.elapsed_seconds) == ("active", 4.5 * H)
    assert pd.isna(r.stopped_at)
    add_events(
        ws,
        [
            status("RE", "2025-01-06 16:00", "solved"),
            status("RE", "2025-01-06 17:00", "closed", "system"),
        ],
    )
    # solved again at 16:00 (then closed: the stop is where the final solved run began)
    r = row(evaluate(ws, POLICY), "RE", "resolution")
    assert (r.state, r.stopped_at, r.elapsed_seconds) == (
        "achieved",
        bj("2025-01-06 16:00"),
        5.5 * H,
    )
    # with solved as a pause status the hour it sat solved (10:00-11:00) is not counted
    paused_solved = POLICY.model_copy(update={"pause_statuses": ("pending", "on_hold", "solved")})
    r = row(evaluate(ws, paused_solved), "RE", "resolution")
    assert (r.elapsed_seconds, r.paused_seconds) == (4.5 * H, H)


def test_as_of_ignores_what_happened_later(ws: servq.Workspace) -> None:
    add_tickets(
        ws,
        [
            ticket("A", "2025-01-06 09:00", resolved_at="2025-01-06 16:00", status="solved"),
            ticket("B", "2025-01-06 14:00"),
        ],
    )
    df = evaluate(ws, POLICY, as_of=bj("2025-01-06 11:00"))
    # B did not exist yet; A was neither replied to nor solved at 11:00
    assert set(df.case_id) == {"A"}
    assert row(df, "A", "resolution").state == "active"
    assert row(df, "A", "first_reply").state == "breached"  # due 10:00, no reply by 11:00
    # by default as_of is the newest timestamp in the data (A solved at 16:00), not now
    full = evaluate(ws, POLICY)
    assert full.attrs["as_of"] == bj("2025-01-06 16:00")
    assert row(full, "A", "resolution").state == "achieved"


def test_cancelled_and_unreplied_cases_drop_targets(ws: servq.Workspace) -> None:
    add_tickets(
        ws,
        [
            ticket("GONE", "2025-01-06 09:00", status="cancelled"),
            ticket("QUIET", "2025-01-06 09:00", resolved_at="2025-01-06 09:30", status="solved"),
        ],
    )
    add_events(ws, [status("GONE", "2025-01-06 09:20", "cancelled", "customer")])
    df = evaluate(ws, POLICY)
    # a cancelled case has no resolution target, and it ended without a first reply
    assert df[df.case_id == "GONE"].empty
    # QUIET was solved (by the agent's solve event, which case facts count as its first reply)
    assert row(df, "QUIET", "resolution").state == "achieved"


def test_attainment_counts_ended_targets(ws: servq.Workspace) -> None:
    add_tickets(
        ws,
        [
            ticket("A", "2025-01-06 09:00", first_reply_at="2025-01-06 09:30", team="x"),
            ticket("B", "2025-01-06 09:00", first_reply_at="2025-01-06 10:30", team="x"),
            ticket("C", "2025-01-06 09:00", first_reply_at="2025-01-06 09:20", team="y"),
            ticket("D", "2025-01-06 11:50", team="y"),
        ],
    )
    df = evaluate(ws, POLICY, as_of=bj("2025-01-06 12:00"))
    table = attainment(df)
    fr = table[table.target == "first_reply"].iloc[0]
    # A and C achieved, B breached, D running (10 min of 60): 2 / (2 + 1)
    assert (fr.achieved, fr.breached, fr.active, fr.ended, fr.total) == (2, 1, 1, 3, 4)
    assert fr.attainment == pytest.approx(2 / 3)
    res = table[table.target == "resolution"].iloc[0]
    assert (res.ended, res.total) == (0, 4) and pd.isna(res.attainment)
    by_team = attainment(df, by="team").set_index(["target", "team"])
    assert by_team.loc[("first_reply", "x"), "attainment"] == 0.5
    assert by_team.loc[("first_reply", "y"), "attainment"] == 1.0
    with pytest.raises(ServqError, match="cannot group by nope"):
        attainment(df, by=["nope"])


def test_empty_and_columns(ws: servq.Workspace) -> None:
    df = evaluate(ws, POLICY)
    assert df.empty and tuple(df.columns) == COLUMNS
    assert attainment(df).empty
    add_tickets(ws, [ticket("X", "2025-01-06 09:00")])
    df = evaluate(ws.warehouse, "standard")  # a bare warehouse works too
    assert tuple(df.columns) == COLUMNS
    assert str(df.due_at.dtype) == "datetime64[ns]"
    assert set(df.state) <= {"active", "at_risk", "paused", "achieved", "breached"}
