"""The demo generator: same seed same bytes, well-formed exports that agree with each other,
a realistic calendar, and every planted problem measurable in the files with plain pandas."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import numpy as np
import pandas as pd
import pytest

from servq.demo import planted as pl
from servq.demo.generator import (
    CALL_COLUMNS,
    EVENT_COLUMNS,
    FEEDBACK_COLUMNS,
    FILE_NAMES,
    ROSTER_COLUMNS,
    TICKET_COLUMNS,
    DemoManifest,
    generate_demo,
)
from servq.warehouse.schema import (
    ACTOR_TYPES,
    CASE_STATUSES,
    CHANNELS,
    OUTCOMES,
    PRIORITIES,
    SURVEYS,
)

SIZE = 3000
SEED = 7
START = date(2025, 9, 1)
END = pd.Timestamp("2025-11-24")  # export moment of the default twelve weeks
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")
TIME_COLUMNS = {
    "tickets": (
        "created_at",
        "first_reply_at",
        "resolved_at",
        "closed_at",
        "due_at",
        "updated_at",
    ),
    "ticket_events": ("timestamp",),
    "feedback": ("submitted_at",),
    "calls": ("arrived_at", "queued_at", "answered_at", "ended_at"),
    "roster": ("start_at", "end_at"),
}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "demo.md"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def _time(column: pd.Series) -> pd.Series:
    """+08:00 timestamps as naive local wall-clock times; NaT where the cell is empty."""
    parsed = pd.to_datetime(column.replace("", None), format="ISO8601")
    return parsed.dt.tz_localize(None)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    return generate_demo(tmp_path_factory.mktemp("demo"), size=SIZE, seed=SEED)


@pytest.fixture(scope="module")
def raw(demo: DemoManifest) -> dict[str, pd.DataFrame]:
    return {name: _read(path) for name, path in demo.files.items()}


@pytest.fixture(scope="module")
def tickets(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    t = raw["tickets"].copy()
    for column in TIME_COLUMNS["tickets"]:
        t[column] = _time(t[column])
    return t.set_index("ticket_id", drop=False)


@pytest.fixture(scope="module")
def events(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    e = raw["ticket_events"].copy()
    e["timestamp"] = _time(e["timestamp"])
    return e


@pytest.fixture(scope="module")
def feedback(raw: dict[str, pd.DataFrame], tickets: pd.DataFrame) -> pd.DataFrame:
    f = raw["feedback"].copy()
    f["score"] = f["score"].astype(int)
    f["submitted_at"] = _time(f["submitted_at"])
    info = tickets[["category", "created_at", "resolved_at"]].rename(
        columns={"category": "t_category", "created_at": "t_created", "resolved_at": "t_resolved"}
    )
    return f.join(info, on="ticket_id")


@pytest.fixture(scope="module")
def calls(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    c = raw["calls"].copy()
    for column in TIME_COLUMNS["calls"]:
        c[column] = _time(c[column])
    for column in ("queue_seconds", "talk_seconds", "hold_seconds", "wrap_seconds"):
        c[column] = c[column].astype(int)
    return c


@pytest.fixture(scope="module")
def roster(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    r = raw["roster"].copy()
    r["start_at"] = _time(r["start_at"])
    r["end_at"] = _time(r["end_at"])
    return r


def _is_rest_day(day: date) -> bool:
    return not chinese_calendar.is_workday(day)


# --- the files ---------------------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    first = generate_demo(tmp_path / "a", size=800, seed=3)
    second = generate_demo(tmp_path / "b", size=800, seed=3)
    other = generate_demo(tmp_path / "c", size=800, seed=4)
    for name in FILE_NAMES:
        assert first.files[name].read_bytes() == second.files[name].read_bytes(), name
    assert first.files["tickets"].read_bytes() != other.files["tickets"].read_bytes()


def test_manifest_lists_what_was_written(demo: DemoManifest, raw: dict[str, pd.DataFrame]) -> None:
    assert set(demo.files) == set(FILE_NAMES)
    for name, path in demo.files.items():
        assert path == demo.out_dir / FILE_NAMES[name]
        assert demo.rows[name] == len(raw[name]) > 0, name
    assert demo.rows["tickets"] == SIZE
    assert (demo.start, demo.end, demo.seed, demo.size) == (START, END.date(), SEED, SIZE)
    assert demo.planted == pl.PLANTED_PROBLEMS
    assert [p.id for p in demo.planted] == [
        "repeat_complaints_site",
        "weekend_slow_team",
        "overdue_backlog_week",
        "rude_agent",
        "post_holiday_delivery_surge",
    ]


def test_headers_are_the_canonical_snake_case_names(demo: DemoManifest) -> None:
    expected = {
        "tickets": TICKET_COLUMNS,
        "ticket_events": EVENT_COLUMNS,
        "feedback": FEEDBACK_COLUMNS,
        "calls": CALL_COLUMNS,
        "roster": ROSTER_COLUMNS,
    }
    for name, columns in expected.items():
        header = demo.files[name].read_text(encoding="utf-8").split("\n", 1)[0]
        assert header == ",".join(columns), name


def test_every_timestamp_parses_and_has_the_china_offset(raw: dict[str, pd.DataFrame]) -> None:
    for name, columns in TIME_COLUMNS.items():
        for column in columns:
            values = raw[name][column]
            filled = values[values != ""]
            assert len(filled) > 0, (name, column)
            assert filled.str.fullmatch(TIMESTAMP).all(), (name, column)
            parsed = pd.to_datetime(filled, format="ISO8601")
            if column != "due_at":  # nothing happens at or after the export; deadlines may
                assert (parsed.dt.tz_localize(None) < END).all(), (name, column)


def test_values_come_from_the_canonical_enumerations(raw: dict[str, pd.DataFrame]) -> None:
    t, e, f, c, r = (raw[n] for n in FILE_NAMES)
    assert set(t["channel"]) <= set(CHANNELS)
    assert set(t["status"]) <= set(CASE_STATUSES)
    assert set(t["priority"]) <= set(PRIORITIES)
    assert set(t["reopened"]) == {"0", "1"}
    assert set(e["actor_type"]) == set(ACTOR_TYPES)
    assert set(e["status"]) - {""} <= set(CASE_STATUSES)
    assert set(e["public"]) == {"true", "false"}
    assert set(e["activity"]) == {
        "created",
        "assigned",
        "agent_replied",
        "customer_replied",
        "status_changed",
        "solved",
        "reopened",
        "closed",
    }
    assert set(f["survey"]) == {"csat", "nps"} and set(f["survey"]) <= set(SURVEYS)
    assert set(f["channel"]) <= set(CHANNELS)
    assert set(f["language"]) == {"zh", "en"}
    assert set(c["outcome"]) <= set(OUTCOMES)
    assert set(c["priority"]) <= set(PRIORITIES)
    assert set(r["kind"]) == {"roster"}
    for frame, key in ((t, "ticket_id"), (e, "event_id"), (f, "feedback_id"), (c, "call_id")):
        assert frame[key].is_unique, key
    assert r["record_id"].is_unique


def test_ticket_times_are_in_order(tickets: pd.DataFrame) -> None:
    t = tickets
    assert (t["first_reply_at"].dropna() >= t.loc[t["first_reply_at"].notna(), "created_at"]).all()
    solved = t[t["resolved_at"].notna()]
    assert (solved["resolved_at"] >= solved["first_reply_at"]).all()
    closed = t[t["closed_at"].notna()]
    assert (closed["closed_at"] >= closed["resolved_at"]).all()
    assert (t["due_at"] > t["created_at"]).all()
    latest = t[["created_at", "first_reply_at", "resolved_at", "closed_at"]].max(axis=1)
    assert (t["updated_at"] >= latest).all()
    # SLA targets by priority, in calendar hours.
    target = (t["due_at"] - t["created_at"]).dt.total_seconds() / 3600
    hours = {"urgent": 4, "high": 8, "normal": 24, "low": 72}
    assert (target == t["priority"].map(hours)).all()


def test_open_tickets_have_no_resolution(tickets: pd.DataFrame) -> None:
    t = tickets
    done = t["status"].isin(["solved", "closed"])
    assert t.loc[~done, ["resolved_at", "closed_at"]].isna().all().all()
    assert t.loc[done, "resolved_at"].notna().all()
    assert t.loc[t["status"] == "closed", "closed_at"].notna().all()
    assert t.loc[t["status"] == "solved", "closed_at"].isna().all()
    assert (~done).sum() > 0, "some tickets are still open at the export"
    assert (t.loc[t["status"] == "new", "agent"] == "").all()


def test_events_agree_with_tickets(tickets: pd.DataFrame, events: pd.DataFrame) -> None:
    e = events.sort_values(["ticket_id", "timestamp"], kind="stable")
    by_ticket = e.groupby("ticket_id")
    assert set(e["ticket_id"]) == set(tickets.index)
    # One ticket's events are strictly ordered in time.
    assert (by_ticket["timestamp"].diff().dropna() > pd.Timedelta(0)).all()

    created = e[e["activity"] == "created"].set_index("ticket_id")["timestamp"]
    assert created.index.is_unique
    assert (created == tickets["created_at"].reindex(created.index)).all()

    human = e[(e["activity"] == "agent_replied") & (e["actor_type"] == "agent")]
    first_reply = human.groupby("ticket_id")["timestamp"].min()
    expected = tickets["first_reply_at"].dropna()
    assert first_reply.sort_index().equals(expected.sort_index().rename("timestamp"))

    assert (by_ticket["timestamp"].max() == tickets["updated_at"]).all()

    final_status = e[e["status"] != ""].groupby("ticket_id")["status"].last()
    assert (final_status == tickets["status"]).all()

    solved = e[e["activity"] == "solved"].groupby("ticket_id")["timestamp"].max()
    done = tickets[tickets["resolved_at"].notna()]
    assert (solved.reindex(done.index) == done["resolved_at"]).all()
    closed = e[e["activity"] == "closed"].set_index("ticket_id")["timestamp"]
    assert closed.sort_index().equals(
        tickets["closed_at"].dropna().sort_index().rename("timestamp")
    )

    agent_rows = e[e["actor_type"] == "agent"]
    assert (agent_rows["actor"].to_numpy() == tickets.loc[agent_rows["ticket_id"], "agent"]).all()
    bots = e[e["actor_type"] == "bot"]
    assert len(bots) > 0 and (bots["activity"] == "agent_replied").all()


def test_reopened_tickets_are_solved_reopened_and_solved_again(
    tickets: pd.DataFrame, events: pd.DataFrame
) -> None:
    reopened = tickets[tickets["reopened"] == "1"]
    assert len(reopened) > 0.02 * SIZE
    cycle = events[events["activity"].isin(["solved", "reopened"])]
    paths = cycle.groupby("ticket_id")["activity"].agg(tuple)
    for ticket_id, status in zip(reopened["ticket_id"], reopened["status"], strict=True):
        path = paths[ticket_id]
        if status in ("solved", "closed"):
            assert path == ("solved", "reopened", "solved"), ticket_id
        else:
            assert path == ("solved", "reopened"), ticket_id
    assert (paths.drop(reopened.index) == ("solved",)).all()


def test_calls_are_consistent(calls: pd.DataFrame, tickets: pd.DataFrame) -> None:
    c = calls
    answered = c["outcome"] == "answered"
    assert c.loc[answered, ["answered_at"]].notna().all().all()
    assert (c.loc[answered, "agent"] != "").all()
    assert c.loc[~answered, "answered_at"].isna().all()
    assert (c.loc[~answered, "agent"] == "").all()
    wait = (c["answered_at"] - c["queued_at"]).dt.total_seconds()
    assert (wait[answered] == c.loc[answered, "queue_seconds"]).all()
    assert (c["queued_at"] >= c["arrived_at"]).all() and (c["ended_at"] >= c["queued_at"]).all()
    short = c["outcome"] == "short_abandoned"
    assert (c.loc[short, "queue_seconds"] < 5).all()
    assert (c.loc[c["outcome"] == "abandoned", "queue_seconds"] >= 5).all()
    linked = c[c["ticket_id"] != ""]
    assert set(linked["ticket_id"]) <= set(tickets.index)
    phone = (tickets["channel"] == "phone").sum()
    assert 2.5 * phone <= len(c) <= 3.5 * phone
    # Each phone ticket was opened by the call that reached an agent.
    origin = linked.groupby("ticket_id")["answered_at"].min()
    phone_created = tickets.loc[tickets["channel"] == "phone", "created_at"]
    assert (
        origin.reindex(phone_created.index).dropna()
        == phone_created.loc[origin.reindex(phone_created.index).dropna().index]
    ).all()


def test_abandonment_rises_with_queue_wait(calls: pd.DataFrame) -> None:
    c = calls.assign(day=calls["arrived_at"].dt.normalize(), gave_up=calls["outcome"] != "answered")
    answered = c[~c["gave_up"]]
    daily = pd.DataFrame(
        {
            "asa": answered.groupby("day")["queue_seconds"].mean(),
            "gave_up": c.groupby("day")["gave_up"].mean(),
        }
    )
    busy = daily["asa"] >= daily["asa"].quantile(0.8)
    assert daily.loc[busy, "gave_up"].mean() >= 1.5 * daily.loc[~busy, "gave_up"].mean()
    assert daily["asa"].corr(daily["gave_up"]) > 0.3


def test_feedback_is_consistent(feedback: pd.DataFrame, tickets: pd.DataFrame) -> None:
    f = feedback
    low = f["scale_min"].astype(int)
    high = f["scale_max"].astype(int)
    assert ((f["score"] >= low) & (f["score"] <= high)).all()
    csat = f["survey"] == "csat"
    assert (low[csat] == 1).all() and (high[csat] == 5).all()
    assert (low[~csat] == 0).all() and (high[~csat] == 10).all()
    assert 0.75 <= csat.mean() <= 0.95
    assert 0.65 <= (f["language"] == "zh").mean() <= 0.85
    assert f.loc[f["language"] == "zh", "text"].str.contains(r"[\u4e00-\u9fff]").all()
    assert f.loc[f["language"] == "en", "text"].str.fullmatch(r"[ -~]+").all()
    assert f["text"].str.len().min() > 5
    assert (f["submitted_at"] > f["t_resolved"]).all()
    ticket = tickets.loc[f["ticket_id"]]
    for column in ("site", "team", "agent", "channel"):
        assert (f[column].to_numpy() == ticket[column].to_numpy()).all(), column
    # Texts agree with scores: five stars never complain.
    negative = "|".join((*pl.NEGATIVE_ATTITUDE_WORDS, "但是", "However", "就是", "Only one"))
    assert not f.loc[csat & (f["score"] == 5), "text"].str.contains(negative).any()
    share_top = (f.loc[csat, "score"] >= 4).mean()
    assert 0.65 <= share_top <= 0.9
    assert f["text"].nunique() > 0.6 * len(f)


def test_roster_covers_the_agents(roster: pd.DataFrame, tickets: pd.DataFrame) -> None:
    assert (roster["end_at"] > roster["start_at"]).all()
    hours = (roster["end_at"] - roster["start_at"]).dt.total_seconds() / 3600
    assert hours.between(4, 9).all()
    teams = roster.drop_duplicates("agent").set_index("agent")["team"]
    assigned = tickets[tickets["agent"] != ""]
    assert set(assigned["agent"]) <= set(teams.index)
    assert (teams.loc[assigned["agent"]].to_numpy() == assigned["team"].to_numpy()).all()
    # An agent works at most one shift a day.
    assert not roster.assign(day=roster["start_at"].dt.date).duplicated(["agent", "day"]).any()


# --- a realistic calendar ----------------------------------------------------------------------


def test_arrivals_follow_the_chinese_calendar(tickets: pd.DataFrame) -> None:
    created = tickets["created_at"]
    daily = created.dt.normalize().value_counts().sort_index()
    days = pd.Series(daily.index.date, index=daily.index)
    workday = days.map(chinese_calendar.is_workday)
    ordinary = daily[workday & (daily.index < pd.Timestamp("2025-09-27"))]
    holiday = daily[pd.Timestamp("2025-10-01") : pd.Timestamp("2025-10-08")]
    rest = daily[
        ~workday & ~days.map(lambda d: chinese_calendar.get_holiday_detail(d)[1] is not None)
    ]
    assert holiday.mean() < 0.6 * ordinary.median()
    after = daily[[pd.Timestamp("2025-10-09"), pd.Timestamp("2025-10-10")]]
    assert after.mean() > 1.3 * ordinary.median()
    adjusted = daily[[pd.Timestamp("2025-09-28"), pd.Timestamp("2025-10-11")]]
    assert adjusted.mean() > 1.2 * rest.median()
    hour = created.dt.hour.value_counts(normalize=True).reindex(range(24), fill_value=0.0)
    assert hour[[10, 11]].mean() > 1.2 * hour[[12, 13]].mean()
    assert hour[[14, 15]].mean() > 1.2 * hour[[12, 13]].mean()
    assert hour[[2, 3, 4]].sum() < 0.01


def test_night_tickets_wait_for_the_morning(tickets: pd.DataFrame) -> None:
    email = tickets[(tickets["team"] == "邮件工单组") & tickets["first_reply_at"].notna()]
    reply_hour = email["first_reply_at"].dt.hour
    assert reply_hour.between(9, 19).all()
    night = email[email["created_at"].dt.hour < 6]
    assert (night["first_reply_at"].dt.hour >= 9).all()


# --- the planted problems ----------------------------------------------------------------------


def _problem(problem_id: str) -> pl.PlantedProblem:
    return next(p for p in pl.PLANTED_PROBLEMS if p.id == problem_id)


def _overdue(t: pd.DataFrame) -> pd.Series:
    return (t["resolved_at"] > t["due_at"]) | (t["resolved_at"].isna() & (t["due_at"] < END))


def test_planted_repeat_complaints_at_one_site(tickets: pd.DataFrame) -> None:
    t = tickets.sort_values("created_at")
    previous = t.groupby(["customer_id", "category"])["created_at"].shift()
    repeat = (t["created_at"] - previous) <= pd.Timedelta(days=pl.REPEAT_WINDOW_DAYS)
    rate = repeat.groupby(t["site"]).mean()
    others = rate.drop(pl.REPEAT_SITE)
    assert _problem("repeat_complaints_site").where == f"site={pl.REPEAT_SITE}"
    assert rate[pl.REPEAT_SITE] >= 2 * others.median()
    assert rate[pl.REPEAT_SITE] == rate.max()


@pytest.mark.parametrize("metric", ["first_reply_at", "resolved_at"])
def test_planted_team_slow_on_weekends(tickets: pd.DataFrame, metric: str) -> None:
    t = tickets[tickets[metric].notna()]
    hours = (t[metric] - t["created_at"]).dt.total_seconds() / 3600
    day = t["created_at"].dt.date
    weekend = (t["created_at"].dt.day_of_week >= 5) & day.map(_is_rest_day)
    # The typical time as a geometric mean: elapsed times jump over nights, which leaves gaps in
    # their distribution where a median of a few hundred tickets can fall either way.
    log_hours = pd.Series(np.log(hours.to_numpy()), index=hours.index)
    typical = log_hours.groupby([t["team"], weekend]).mean().unstack().apply(np.exp)
    ratio = typical[True] / typical[False]
    slow = ratio[pl.WEEKEND_SLOW_TEAM]
    others = ratio.drop(pl.WEEKEND_SLOW_TEAM)
    assert slow >= 1.8
    assert slow >= 1.5 * others.median()
    assert slow > others.max()
    weekend_typical = typical[True]
    assert weekend_typical[pl.WEEKEND_SLOW_TEAM] > weekend_typical.drop(pl.WEEKEND_SLOW_TEAM).max()


def test_planted_overdue_backlog_week(tickets: pd.DataFrame, roster: pd.DataFrame) -> None:
    monday = pl.shortage_week(START, 12)
    assert monday == date(2025, 10, 20)
    assert _problem("overdue_backlog_week").when == "2025-10-20/2025-10-26"
    t = tickets.assign(overdue=_overdue(tickets))
    week = t["created_at"].dt.to_period("W-SUN").dt.start_time
    share = t["overdue"].groupby(week).mean()
    planted = pd.Timestamp(monday)
    assert share[planted] >= 2 * share.drop(planted).median()
    assert share.idxmax() == planted

    ends = pd.date_range("2025-09-02", END, freq="D")
    created = t["created_at"].to_numpy()
    resolved = t["resolved_at"].to_numpy()
    backlog = pd.Series(
        [((created < d) & (pd.isna(resolved) | (resolved >= d))).sum() for d in ends.to_numpy()],
        index=ends,
    )
    peak = ends[int(backlog.to_numpy().argmax())]
    assert planted <= peak <= planted + pd.Timedelta(days=9)
    assert backlog.max() >= 2 * backlog.median()

    shifts = roster[roster["team"].isin(pl.SHORTAGE_TEAMS)]
    per_day = shifts.groupby(shifts["start_at"].dt.normalize()).size()
    workdays = per_day[[chinese_calendar.is_workday(d.date()) for d in per_day.index]]
    in_week = workdays[planted : planted + pd.Timedelta(days=4)]
    assert in_week.max() <= 0.6 * workdays.drop(in_week.index).median()


def test_planted_rude_agent(feedback: pd.DataFrame) -> None:
    f = feedback.assign(rude=feedback["text"].str.contains("|".join(pl.NEGATIVE_ATTITUDE_WORDS)))
    by_agent = f.groupby("agent").agg(n=("rude", "size"), rude=("rude", "mean"))
    by_agent["csat"] = f[f["survey"] == "csat"].groupby("agent")["score"].mean()
    others = by_agent.drop(pl.RUDE_AGENT)
    others = others[others["n"] >= 15]
    agent = by_agent.loc[pl.RUDE_AGENT]
    assert agent["n"] >= 30
    assert agent["rude"] >= 3 * others["rude"].median()
    assert agent["rude"] == by_agent.loc[by_agent["n"] >= 15, "rude"].max()
    assert agent["csat"] <= others["csat"].median() - 0.5
    assert (f.loc[f["agent"] == pl.RUDE_AGENT, "team"] == pl.RUDE_AGENT_TEAM).all()


def test_planted_delivery_surge_after_national_day(
    tickets: pd.DataFrame, feedback: pd.DataFrame
) -> None:
    first = pl.delivery_surge_start(START, 12)
    assert first == date(2025, 10, 9)
    assert _problem("post_holiday_delivery_surge").when == "2025-10-09/2025-10-15"
    start = pd.Timestamp(first)
    window = (tickets["created_at"] - start).dt.days // 7
    full = window.between(-5, 5)  # whole seven-day windows inside the period
    delivery = tickets["category"] == pl.DELIVERY_CATEGORY
    counts = window[delivery & full].value_counts()
    assert counts[0] >= 2 * counts.drop(0).median()
    assert counts.idxmax() == 0

    f = feedback[feedback["t_category"] == pl.DELIVERY_CATEGORY]
    f_window = (f["t_created"] - start).dt.days // 7
    words = f["text"].str.contains("|".join(pl.DELIVERY_DELAY_WORDS))
    share = words.groupby(f_window).mean()
    assert share[0] >= 0.6
    assert share[0] >= 2 * share.drop(0).median()


def test_plan_follows_the_period() -> None:
    assert pl.plan_problems(START, 12) == pl.PLANTED_PROBLEMS
    short = [p.id for p in pl.plan_problems(date(2025, 9, 1), 2)]
    assert short == ["repeat_complaints_site", "weekend_slow_team", "rude_agent"]
    shifted = {p.id: p.when for p in pl.plan_problems(date(2024, 9, 16), 6)}
    # 2024: National Day 1-7 Oct, so the surge starts on Tuesday 8 Oct and the shortage week
    # moves away from it and from the holiday.
    assert shifted["post_holiday_delivery_surge"] == "2024-10-08/2024-10-14"
    assert shifted["overdue_backlog_week"] == "2024-10-21/2024-10-27"
    end_of_plan = date(2024, 9, 16) + timedelta(weeks=6)
    assert date.fromisoformat(shifted["overdue_backlog_week"][-10:]) < end_of_plan


def test_docs_describe_every_planted_problem() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for problem in pl.PLANTED_PROBLEMS:
        assert f"`{problem.id}`" in text, problem.id
        assert problem.title_zh in text, problem.title_zh
        assert problem.title_en in text, problem.title_en
    for column in TICKET_COLUMNS + EVENT_COLUMNS + FEEDBACK_COLUMNS + CALL_COLUMNS:
        assert f"`{column}`" in text, column
