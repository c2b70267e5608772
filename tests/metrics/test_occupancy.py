"""Occupancy (占用率): handling time of answered calls over rostered shift time.

A tiny hand-built call centre (Beijing time), every expected value worked out by hand below:

roster (``roster`` profile)
  A  team T1, site S1   03-03 22:00 → 03-04 02:00   crosses midnight: 2 h on each day
  B  team T2, site S2   03-04 08:30 → 03-04 10:30   crosses hours: 30 + 60 + 30 min
  D  team T2, site S1   03-04 09:00 → 03-04 10:00   rostered, takes no call
  A  (kind maintenance) 03-04 00:00 → 03-04 12:00   not a shift: ignored

calls (``calls`` profile); handling = talk + hold + wrap, a missing part counts as 0
  c1  A  answered 03-03 22:10   600 + 60 + 120  =  780
  c2  A  answered 03-04 01:00   900 +  – + 300  = 1200
  c3  A  answered 03-04 10:00   300 +  – +   –  =  300   A's day, not A's hour
  c4  B  answered 03-04 08:45  1800 + 120 + 180 = 2100   more than B's 30 min that hour
  c5  B  answered 03-04 09:59  2400 +  0 + 600  = 3000   queue Q2 (the others Q1)
  c6  B  answered 03-05 09:00   500             =  500   no shift of B that day
  c7  C  answered 03-04 09:00  1000             = 1000   C has no roster at all
  c8  A  abandoned 03-04 01:30  talk 50                  not answered

Staffed: A 4 h = 14,400 s, B 2 h = 7,200 s, D 1 h = 3,600 s; 25,200 s in all. Matched per agent
and local day, handled: A 780 + 1200 + 300 = 2,280 s, B 2100 + 3000 = 5,100 s; 7,380 s in all.
The calls' own team column says 电话组: dimensions come from the roster.
"""

from __future__ import annotations

import socket
import statistics
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, cast

import pandas as pd
import psycopg
import pytest
from psycopg import sql

import servq
from servq.demo.generator import generate_demo
from servq.demo.planted import SHORTAGE_TEAMS
from servq.demo.run import DEMO_PROFILES
from servq.errors import DefinitionError, ServqError
from servq.metrics.catalogue_registry import Catalogue
from servq.metrics.compute import MetricEngine, Request
from servq.warehouse.postgres import connect, copy_to_postgres
from servq.warehouse.store import Warehouse

TZ = "Asia/Shanghai"
STAFFED = {"A": 14_400, "B": 7_200, "D": 3_600}
HANDLED = {"A": 2_280, "B": 5_100, "D": 0}

ROSTER = pd.DataFrame(
    {
        "record_id": ["R1", "R2", "R3", "M1"],
        "agent": ["A", "B", "D", "A"],
        "team": ["T1", "T2", "T2", "T1"],
        "site": ["S1", "S2", "S1", "S1"],
        "start_at": [
            "2025-03-03 22:00",
            "2025-03-04 08:30",
            "2025-03-04 09:00",
            "2025-03-04 00:00",
        ],
        "end_at": [
            "2025-03-04 02:00",
            "2025-03-04 10:30",
            "2025-03-04 10:00",
            "2025-03-04 12:00",
        ],
        "kind": ["roster", "roster", "roster", "maintenance"],
    }
)


def _call(
    call_id: str,
    agent: str,
    answered_at: str | None,
    talk: float,
    hold: float | None = None,
    wrap: float | None = None,
    *,
    outcome: str = "answered",
    queue: str = "Q1",
) -> dict[str, Any]:
    arrived = answered_at or "2025-03-04 01:30:00"
    return {
        "call_id": call_id,
        "arrived_at": arrived,
        "answered_at": answered_at,
        "queue_seconds": 0.0,
        "talk_seconds": talk,
        "hold_seconds": hold,
        "wrap_seconds": wrap,
        "outcome": outcome,
        "agent": agent,
        "team": "电话组",
        "site": "S9",
        "queue": queue,
    }


CALLS = pd.DataFrame(
    [
        _call("c1", "A", "2025-03-03 22:10:00", 600, 60, 120),
        _call("c2", "A", "2025-03-04 01:00:00", 900, None, 300),
        _call("c3", "A", "2025-03-04 10:00:00", 300),
        _call("c4", "B", "2025-03-04 08:45:00", 1800, 120, 180),
        _call("c5", "B", "2025-03-04 09:59:00", 2400, 0, 600, queue="Q2"),
        _call("c6", "B", "2025-03-05 09:00:00", 500),
        _call("c7", "C", "2025-03-04 09:00:00", 1000),
        _call("c8", "A", None, 50, outcome="abandoned"),
    ]
)


@pytest.fixture
def centre(ws: servq.Workspace) -> servq.Workspace:
    assert ws.ingest_frame(ROSTER, "roster").loaded == 4
    assert ws.ingest_frame(CALLS, "calls").loaded == 8
    return ws


def _by(df: pd.DataFrame, key: str) -> dict[Any, float]:
    return {k: float(v) for k, v in zip(df[key], df["occupancy"], strict=True)}


def test_overall(centre: servq.Workspace) -> None:
    got = centre.metrics("occupancy", timezone=TZ).iloc[0].occupancy
    assert got == pytest.approx(100 * 7_380 / 25_200)  # 29.29 %


def test_by_agent_leaves_out_the_agent_without_a_roster(centre: servq.Workspace) -> None:
    got = _by(centre.metrics("occupancy", by="agent", timezone=TZ), "agent")
    assert got == pytest.approx({a: 100 * HANDLED[a] / STAFFED[a] for a in "ABD"})
    assert "C" not in got  # C's call counts nowhere: C has no shift
    # beside a metric of the calls alone, C has a row, with no occupancy
    both = centre.metrics(["aht", "occupancy"], by="agent", timezone=TZ).set_index("agent")
    assert both.loc["C", "aht"] == pytest.approx(1000)
    assert pd.isna(both.loc["C", "occupancy"])
    assert both.loc["B", "occupancy"] == pytest.approx(100 * 5_100 / 7_200)


def test_by_team_and_site_come_from_the_roster(centre: servq.Workspace) -> None:
    teams = _by(centre.metrics("occupancy", by="team", timezone=TZ), "team")
    assert teams == pytest.approx({"T1": 100 * 2_280 / 14_400, "T2": 100 * 5_100 / 10_800})
    sites = _by(centre.metrics("occupancy", by="site", timezone=TZ), "site")
    assert sites == pytest.approx({"S1": 100 * 2_280 / 18_000, "S2": 100 * 5_100 / 7_200})
    # a filter on a roster column picks agents; one on a call column picks calls
    t2 = centre.metrics("occupancy", where={"team": "T2"}, timezone=TZ).iloc[0].occupancy
    assert t2 == pytest.approx(100 * 5_100 / 10_800)
    q1 = centre.metrics("occupancy", where={"queue": "Q1"}, timezone=TZ).iloc[0].occupancy
    assert q1 == pytest.approx(100 * (7_380 - 3_000) / 25_200)


def test_by_day_splits_the_night_shift(centre: servq.Workspace) -> None:
    df = centre.metrics("occupancy", grain="day", timezone=TZ)
    # 03-03: A's 22:00–24:00 and c1; 03-04: A 2 h + B 2 h + D 1 h, c2 + c3 + c4 + c5;
    # 03-05 has c6 but no shift: no row
    assert _by(df, "period") == pytest.approx(
        {
            pd.Timestamp("2025-03-03"): 100 * 780 / 7_200,
            pd.Timestamp("2025-03-04"): 100 * 6_600 / 18_000,
        }
    )
    by_agent = centre.metrics("occupancy", by="agent", grain="day", timezone=TZ)
    a = by_agent[by_agent.agent == "A"]
    assert _by(a, "period") == pytest.approx(
        {
            pd.Timestamp("2025-03-03"): 100 * 780 / 7_200,
            pd.Timestamp("2025-03-04"): 100 * 1_500 / 7_200,
        }
    )
    # one day asked for: A's shift is clipped to its part after midnight
    one = centre.metrics("occupancy", start="2025-03-04", end="2025-03-04", timezone=TZ)
    assert one.iloc[0].occupancy == pytest.approx(100 * 6_600 / 18_000)


def test_by_hour_splits_shifts_and_matches_calls_to_the_hour(centre: servq.Workspace) -> None:
    df = centre.metrics("occupancy", grain="hour", timezone=TZ)
    h = pd.Timestamp
    assert _by(df, "period") == pytest.approx(
        {
            h("2025-03-03 22:00"): 100 * 780 / 3_600,
            h("2025-03-03 23:00"): 0.0,
            h("2025-03-04 00:00"): 0.0,
            h("2025-03-04 01:00"): 100 * 1_200 / 3_600,
            # B's first half hour, and c4's 35 min answered in it: not clipped at 100 %
            h("2025-03-04 08:00"): 100 * 2_100 / 1_800,
            # B's and D's full hours; c7 (C, no roster) left out
            h("2025-03-04 09:00"): 100 * 3_000 / 7_200,
            # B's last half hour; c3 is A's, who is not rostered at 10:00
            h("2025-03-04 10:00"): 0.0,
        }
    )
    by_team = centre.metrics("occupancy", by="team", grain="hour", timezone=TZ)
    t2 = by_team[by_team.team == "T2"]
    assert _by(t2, "period") == pytest.approx(
        {
            h("2025-03-04 08:00"): 100 * 2_100 / 1_800,
            h("2025-03-04 09:00"): 100 * 3_000 / 7_200,
            h("2025-03-04 10:00"): 0.0,
        }
    )


def test_days_are_local_days(centre: servq.Workspace) -> None:
    # In UTC, A's shift (14:00–18:00 UTC on 03-03) lies within one day, and c3 (02:00 UTC on
    # 03-04) falls on a day without a shift of A: it drops out. B's shift and calls do not move.
    got = _by(centre.metrics("occupancy", by="agent"), "agent")
    assert got == pytest.approx({"A": 100 * 1_980 / 14_400, "B": 100 * 5_100 / 7_200, "D": 0.0})


def test_no_roster_gives_no_value(ws: servq.Workspace) -> None:
    ws.ingest_frame(CALLS, "calls")
    ws.ingest_frame(ROSTER[ROSTER.kind == "maintenance"], "roster")  # not a shift
    total = ws.metrics(["occupancy", "calls_answered"], timezone=TZ)
    assert len(total) == 1 and pd.isna(total.iloc[0].occupancy)
    assert total.iloc[0].calls_answered == 7
    assert ws.metrics("occupancy", by="agent", grain="day", timezone=TZ).empty


def test_no_sliding_windows(centre: servq.Workspace) -> None:
    req = Request(metrics=("occupancy",), windows=((datetime(2025, 3, 3), datetime(2025, 3, 5)),))
    with pytest.raises(ServqError, match="no sliding-window form"):
        MetricEngine(centre.warehouse, centre.catalogue).compute(req)


def test_a_measure_of_another_source_needs_a_scope(tmp_path: Any) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "mine.yaml").write_text(
        "metrics:\n"
        "  - id: talk_per_shift_hour\n"
        "    name_en: Talk per shift hour\n"
        "    name_zh: 每班时通话\n"
        "    unit: ratio\n"
        "    direction: neutral\n"
        "    servqual: responsiveness\n"
        "    source: interaction\n"
        "    time: answered_at\n"
        "    measures:\n"
        "      talk: {agg: sum, column: talk_seconds}\n"
        "      staffed: {agg: sum, column: staffed_seconds, source: roster}\n"
        "    formula: talk / staffed\n",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as info:
        Catalogue([folder])
    text = str(info.value)
    assert "needs its own time" in text and "needs a scope" in text


# -- PostgreSQL ---------------------------------------------------------------------------------
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"


def _listening() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=2):
            return True
    except OSError:
        return False


def _drop_schema(schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_same_answers_on_postgres(centre: servq.Workspace) -> None:
    if not _listening():
        pytest.skip(f"no PostgreSQL server listening on {PG_HOST}:{PG_PORT}")
    # unique per run, so parallel runs and leftovers of a killed run never collide
    schema = f"servq_test_occupancy_{uuid.uuid4().hex[:10]}"
    try:
        copy_to_postgres(centre.warehouse, PG_URL, schema)
        with connect(PG_URL, schema) as pg:
            engines = {
                "duckdb": MetricEngine(centre.warehouse, centre.catalogue),
                "postgres": MetricEngine(cast(Warehouse, pg), centre.catalogue),
            }
            for name, engine in engines.items():
                by_agent = engine.compute(Request(("occupancy",), by=("agent",), timezone=TZ))
                assert _by(by_agent, "agent") == pytest.approx(
                    {a: 100 * HANDLED[a] / STAFFED[a] for a in "ABD"}
                ), name
                hours = engine.compute(
                    Request(("occupancy",), by=("team",), grain="hour", timezone=TZ)
                )
                t2 = hours[hours.team == "T2"]
                assert _by(t2, "period") == pytest.approx(
                    {
                        pd.Timestamp("2025-03-04 08:00"): 100 * 2_100 / 1_800,
                        pd.Timestamp("2025-03-04 09:00"): 100 * 3_000 / 7_200,
                        pd.Timestamp("2025-03-04 10:00"): 0.0,
                    }
                ), name
                days = engine.compute(Request(("occupancy",), grain="day", timezone=TZ))
                assert _by(days, "period") == pytest.approx(
                    {
                        pd.Timestamp("2025-03-03"): 100 * 780 / 7_200,
                        pd.Timestamp("2025-03-04"): 100 * 6_600 / 18_000,
                    }
                ), name
                empty = engine.compute(
                    Request(("occupancy",), start=date(2025, 3, 6), end=date(2025, 3, 6))
                )
                assert len(empty) == 1 and pd.isna(empty.iloc[0].occupancy), name
    finally:
        _drop_schema(schema)


# -- the demo -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[servq.Workspace, str]]:
    root = tmp_path_factory.mktemp("occupancy-demo")
    # the size and seed docs/demo.md measures the planted problems on (under a second)
    manifest = generate_demo(root / "input", size=5000, seed=7)
    ws = servq.open_workspace(root / "ws")
    for name, profile in DEMO_PROFILES.items():
        ws.ingest(manifest.files[name], profile)
    (week,) = [p.when for p in manifest.planted if p.id == "overdue_backlog_week"]
    try:
        yield ws, week
    finally:
        ws.close()


def test_demo_occupancy_by_team_is_plausible(demo: tuple[servq.Workspace, str]) -> None:
    ws, _ = demo
    df = ws.metrics("occupancy", by="team", timezone=TZ)
    assert set(df.team) >= set(SHORTAGE_TEAMS)
    assert df.occupancy.notna().all()
    assert ((df.occupancy >= 0) & (df.occupancy <= 150)).all()
    # only the phone team answers calls in the demo
    assert (df.set_index("team").occupancy > 0).to_dict() == {t: t == "电话客服组" for t in df.team}


def test_demo_staff_shortage_week_has_higher_occupancy(demo: tuple[servq.Workspace, str]) -> None:
    # The generator rosters about half the usual shifts of SHORTAGE_TEAMS that week (14 phone
    # shifts against 28) while the calls keep coming, though more of them are abandoned: the
    # teams that take calls are clearly busier than in their median week (1.9x measured).
    ws, week = demo
    monday = pd.Timestamp(week.split("/")[0])
    df = ws.metrics("occupancy", by="team", grain="week", timezone=TZ)
    checked = 0
    for team in SHORTAGE_TEAMS:
        weeks = df[df.team == team].set_index("period").occupancy
        if not (weeks > 0).any():
            continue  # a team that takes no calls: 0 every week
        others = weeks.drop(monday)
        assert weeks[monday] > 1.5 * statistics.median(others), team
        assert weeks[monday] == weeks.max(), team
        checked += 1
    assert checked >= 1
