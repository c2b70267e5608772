"""Each metric rule kind on small warehouses whose answers are worked out by hand.

Times are UTC. A window ``[t − window, t)`` holds the rows whose metric time is in it; a case's
first-reply time counts in a window only once the reply had happened by the window's end.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

import servq
from servq.monitor.evaluate import RuleEngine, backtest
from servq.monitor.signals import Signal

from .test_rules_fixtures import load, rules, spread, tickets_at, utc

MIN = timedelta(minutes=1)


@pytest.fixture
def ws(tmp_path: Path):  # type: ignore[no-untyped-def]
    with servq.open_workspace(tmp_path / "ws") as w:
        yield w


# -- threshold and `for` -----------------------------------------------------------------------

SLOW_REPLY = rules(
    """
rules:
  - name: slow-first-reply
    title_en: Slow first replies
    title_zh: 首次响应慢
    kind: threshold
    metric: first_reply_time
    statistic: p90
    by: [team]
    window: 1h
    every: 1m
    for: 10m
    op: ">"
    value: 30m
    labels: {scope: team}
"""
)


def _first_replies(ws: servq.Workspace) -> None:
    """Team b: a 50-min reply (known from 09:50, in the window until 10:00) and a 5-min one.
    Team a: the same, but the slow reply comes at 09:51, so the condition holds 9 minutes."""
    load(
        ws,
        "tickets",
        [
            {
                "ticket_id": "B1",
                "created_at": utc("2025-01-06 09:00"),
                "team": "b",
                "first_reply_at": utc("2025-01-06 09:50"),
            },
            {
                "ticket_id": "B2",
                "created_at": utc("2025-01-06 09:05"),
                "team": "b",
                "first_reply_at": utc("2025-01-06 09:10"),
            },
            {
                "ticket_id": "A1",
                "created_at": utc("2025-01-06 09:00"),
                "team": "a",
                "first_reply_at": utc("2025-01-06 09:51"),
            },
            {
                "ticket_id": "A2",
                "created_at": utc("2025-01-06 09:05"),
                "team": "a",
                "first_reply_at": utc("2025-01-06 09:10"),
            },
        ],
    )


def _minutes(start: str, end: str) -> list[datetime]:
    t, stop, out = utc(start), utc(end), []
    while t <= stop:
        out.append(t)
        t += MIN
    return out


def test_threshold_fires_exactly_when_it_has_held_for_ten_minutes(ws: servq.Workspace) -> None:
    _first_replies(ws)
    engine = RuleEngine(ws, SLOW_REPLY)
    seen: dict[datetime, list[Signal]] = {}
    for now in _minutes("2025-01-06 09:49", "2025-01-06 10:01"):
        seen[now] = engine.evaluate(now)
    fired = [(t, s) for t, signals in seen.items() for s in signals]
    # team b holds from 09:50 (its slow reply is known) to 10:00 (B1 still in the window):
    # at 10:00 it has held 10 minutes and fires; at 10:01 B1 has left the window and it clears.
    # team a holds 09:51..10:00, nine minutes: never fires, and so never clears either.
    assert [(t, s.labels, s.firing) for t, s in fired] == [
        (utc("2025-01-06 10:00"), {"team": "b", "scope": "team"}, True),
        (utc("2025-01-06 10:01"), {"team": "b", "scope": "team"}, False),
    ]
    firing = fired[0][1]
    # p90 of 5 and 50 minutes, linear interpolation: 5 + 0.9 × 45 = 45.5 minutes
    assert firing.value == pytest.approx(float(np.quantile([300.0, 3000.0], 0.9)))
    assert firing.value == pytest.approx(45.5 * 60)
    assert firing.threshold == 1800
    assert firing.kind == "threshold" and firing.severity == "warning"
    assert firing.details["since"] == "2025-01-06T09:50:00"
    assert firing.summary_en == (
        "Slow first replies: First reply time p90 for team=b over the last 1h is "
        "45m30s, above 30m for 10m."
    )
    assert firing.summary_zh == (
        "首次响应慢：team=b最近1小时的首次响应时间 p90为45分钟30秒，高于30分钟，已持续10分钟。"
    )
    # at 10:01 team b's window holds B2 alone: p90 of one 5-minute reply
    cleared = fired[1][1]
    assert cleared.value == pytest.approx(300.0)
    assert "5m" in cleared.summary_en and "已恢复" in cleared.summary_zh


def test_a_replay_gives_the_same_alert_as_live_evaluation(ws: servq.Workspace) -> None:
    _first_replies(ws)
    alerts = backtest(ws, SLOW_REPLY, utc("2025-01-06 09:00"), utc("2025-01-06 11:00"))
    assert len(alerts) == 1
    row = alerts.iloc[0]
    assert row["group"] == "team=b, scope=team"
    assert row["fired_at"] == utc("2025-01-06 10:00")
    assert row["resolved_at"] == utc("2025-01-06 10:01")
    assert row["evaluations"] == 1
    assert row["peak_value"] == pytest.approx(45.5 * 60)


def test_a_rule_runs_only_every_so_often(ws: servq.Workspace) -> None:
    _first_replies(ws)
    every_5m = rules(
        """
rules:
  - {name: slow, kind: threshold, metric: first_reply_time, statistic: p90, by: [team],
     window: 1h, every: 5m, op: ">", value: 30m}
"""
    )
    engine = RuleEngine(ws, every_5m)
    assert engine.interval == timedelta(minutes=5)
    firing_at = [
        now
        for now in _minutes("2025-01-06 09:49", "2025-01-06 09:56")
        for s in engine.evaluate(now)
        if s.firing and s.labels == {"team": "b"}
    ]
    # runs at 09:49 (first call; nothing known yet) then 09:54: firing from 09:50 on, seen at 09:54
    assert firing_at == [utc("2025-01-06 09:54")]


# -- relative change ---------------------------------------------------------------------------


def _calls(site: str, start: datetime, offered: int, abandoned: int, tag: str) -> list[dict]:
    """``offered`` calls in the hour from ``start``; the first ``abandoned`` hung up after
    waiting 60 s (not a short abandon)."""
    out = []
    for i, t in enumerate(spread(start, offered, timedelta(hours=1))):
        gave_up = i < abandoned
        out.append(
            {
                "call_id": f"{tag}-{site}-{i}",
                "arrived_at": t,
                "site": site,
                "outcome": "abandoned" if gave_up else "answered",
                "queue_seconds": 60.0,
                "talk_seconds": None if gave_up else 120.0,
            }
        )
    return out


def test_relative_change_against_the_same_hour_last_week(ws: servq.Workspace) -> None:
    last, this = utc("2025-01-06 10:00"), utc("2025-01-13 10:00")
    load(
        ws,
        "calls",
        _calls("north", last, 20, 2, "w1")  # 10%
        + _calls("south", last, 20, 4, "w1")  # 20%
        + _calls("north", this, 20, 3, "w2")  # 15%: +50% on last week
        + _calls("south", this, 20, 5, "w2")  # 25%: +25%, under the +30% of the rule
        + _calls("east", this, 20, 10, "w2"),  # no calls last week: no baseline
    )
    rule = rules(
        """
rules:
  - name: abandonment-up
    title_en: Abandonment up
    title_zh: 放弃率上升
    kind: relative_change
    metric: abandonment_rate
    by: [site]
    window: 1h
    baseline: same_hour_last_week
    change: +30%
    min_volume: 10
    labels: {scope: site}
"""
    )
    signals = RuleEngine(ws, rule).evaluate(utc("2025-01-13 11:00"))
    assert [(s.labels, s.firing) for s in signals] == [({"site": "north", "scope": "site"}, True)]
    s = signals[0]
    assert s.value == pytest.approx(100 * 3 / 20)
    assert s.details["baseline"] == pytest.approx(100 * 2 / 20)
    assert s.details["change"] == pytest.approx(0.15 / 0.10 - 1)
    assert s.threshold == pytest.approx(10.0 * 1.3)  # the level a +30% rule fires at
    assert "15.0%" in s.summary_en and "10.0%" in s.summary_en and "+50%" in s.summary_en
    assert "上周同一时段" in s.summary_zh and "+50%" in s.summary_zh


def test_min_volume_keeps_a_thin_group_quiet(ws: servq.Workspace) -> None:
    last, this = utc("2025-01-06 10:00"), utc("2025-01-13 10:00")
    load(ws, "calls", _calls("north", last, 20, 2, "w1") + _calls("north", this, 8, 4, "w2"))
    text = """
rules:
  - {name: up, kind: relative_change, metric: abandonment_rate, by: [site], window: 1h,
     change: +30%, min_volume: MIN}
"""
    now = utc("2025-01-13 11:00")
    # 4 of 8 abandoned (50%) against 10%: far above +30%, but only 8 calls were offered
    assert RuleEngine(ws, rules(text.replace("MIN", "10"))).evaluate(now) == []
    assert len(RuleEngine(ws, rules(text.replace("MIN", "8"))).evaluate(now)) == 1


def test_trailing_mean_counts_an_empty_day_as_zero(ws: servq.Workspace) -> None:
    # cases created 09:00-10:00 on the three days before 2025-01-09: 4, none, 2 → mean 2
    first = spread(utc("2025-01-05 23:00"), 1, timedelta(hours=1))  # the source starts here
    day1 = spread(utc("2025-01-06 09:00"), 4, timedelta(hours=1))
    day3 = spread(utc("2025-01-08 09:00"), 2, timedelta(hours=1))
    today = spread(utc("2025-01-09 09:00"), 6, timedelta(hours=1))
    load(ws, "tickets", tickets_at(first + day1 + day3 + today, "T", team="a"))
    rule = rules(
        """
rules:
  - {name: more-cases, kind: relative_change, metric: cases_created, window: 1h,
     baseline: trailing_mean, days: 3, change: +150%}
"""
    )
    signals = RuleEngine(ws, rule).evaluate(utc("2025-01-09 10:00"))
    assert len(signals) == 1
    assert signals[0].details["baseline"] == pytest.approx((4 + 0 + 2) / 3)
    assert signals[0].details["change"] == pytest.approx(6 / 2 - 1)


# -- anomaly -----------------------------------------------------------------------------------

WEEK1 = utc("2025-01-06 00:00")  # a Monday
PLANTED = utc("2025-02-05 15:00")  # Wednesday of week 5


def _seasonal_counts() -> dict[datetime, int]:
    """Cases per hour over five weeks: 1-3 an hour (varying by week), a peak of 28-31 every
    Monday 10:00-11:00, and one planted burst of 20 on Wednesday 15:00 of week 5."""
    peaks = [28, 31, 30, 29, 30]
    counts: dict[datetime, int] = {}
    for week in range(5):
        for hour in range(168):
            start = WEEK1 + timedelta(weeks=week, hours=hour)
            counts[start] = peaks[week] if hour == 10 else 1 + (week + hour) % 3
    counts[PLANTED] = 20
    return counts


def _load_counts(ws: servq.Workspace, counts: dict[datetime, int]) -> None:
    times = [t for start, n in counts.items() for t in spread(start, n, timedelta(hours=1))]
    load(ws, "tickets", tickets_at(times, "S", team="a"))


def test_anomaly_flags_the_planted_burst_and_not_the_weekly_peaks(ws: servq.Workspace) -> None:
    _load_counts(ws, _seasonal_counts())
    text = """
rules:
  - name: unusual-volume
    kind: anomaly
    metric: cases_created
    window: 1h
    every: 1h
    seasonality: SEASON
    history: 4w
    z: 3.5
    direction: both
"""
    week5 = (utc("2025-02-03 00:00"), utc("2025-02-10 00:00"))
    found = backtest(ws, rules(text.replace("SEASON", "hour_of_week")), *week5, step="1h")
    # Every ordinary hour is 1-3 cases against twins of 1-3: |z| ≤ (3 − 1) / √1 = 2 < 3.5.
    # The Monday peak (30) meets twins 28, 31, 30, 29. Only the planted hour stands out.
    assert found["fired_at"].tolist() == [PLANTED + timedelta(hours=1)]
    assert found["resolved_at"].tolist() == [PLANTED + timedelta(hours=2)]
    assert found["peak_value"].tolist() == [20]
    # the same data judged against the same hour of *every* day: each Monday peak is an outlier
    daily = backtest(ws, rules(text.replace("SEASON", "hour_of_day")), *week5, step="1h")
    assert utc("2025-02-03 11:00") in daily["fired_at"].tolist()


def test_anomaly_summary_gives_the_usual_level_and_z(ws: servq.Workspace) -> None:
    _load_counts(ws, _seasonal_counts())
    rule = rules(
        """
rules:
  - {name: unusual, title_en: Unusual volume, title_zh: 工单量异常, kind: anomaly,
     metric: cases_created, window: 1h, history: 4w}
"""
    )
    [signal] = RuleEngine(ws, rule).evaluate(PLANTED + timedelta(hours=1))
    # the twins of Wednesday 15:00 (hour 63 of the week) in weeks 1-4, 1 + (week + 63) % 3:
    # 1, 2, 3, 1 → median 1.5, absolute deviations .5 .5 1.5 .5 → MAD 0.5 → 0.741; for a count
    # the scale is at least √1.5 = 1.2247, so z = (20 − 1.5) / 1.2247 = 15.1
    assert [1 + (w + 63) % 3 for w in range(4)] == [1, 2, 3, 1]
    assert signal.details["median"] == pytest.approx(1.5)
    assert signal.details["scale"] == pytest.approx(np.sqrt(1.5))
    assert signal.details["z"] == pytest.approx(18.5 / np.sqrt(1.5))
    assert signal.value == 20 and signal.labels == {}
    assert signal.summary_en == (
        "Unusual volume: Cases created over the last 1h is 20; the same hour of the week "
        "usually sees 1.5 (robust z +15.1, limit 3.5)."
    )
    assert signal.summary_zh == (
        "工单量异常：最近1小时的新建工单量为20，历史每周同一时段通常为1.5（稳健z值+15.1，阈值3.5）。"
    )


# -- volume spike ------------------------------------------------------------------------------


def test_volume_spike_against_the_trailing_windows(ws: servq.Workspace) -> None:
    quarter = timedelta(minutes=15)
    times: list[tuple[datetime, str]] = []
    start = utc("2025-01-06 08:00")
    for k in range(16):  # 08:00 - 12:00
        q = start + quarter * k
        billing = 9 if q == utc("2025-01-06 11:00") else 2
        tech = 4 if q == utc("2025-01-06 11:00") else 1
        times += [(t, "billing") for t in spread(q, billing, quarter)]
        times += [(t, "tech") for t in spread(q, tech, quarter)]
    load(
        ws,
        "tickets",
        [
            {"ticket_id": f"V{i}", "created_at": t, "category": c, "channel": "web"}
            for i, (t, c) in enumerate(times)
        ],
    )
    rule = rules(
        """
rules:
  - name: case-spike
    kind: volume_spike
    count: cases
    by: [category]
    window: 15m
    every: 15m
    baseline: 2h
    factor: 3
    min_count: 5
"""
    )
    found = backtest(ws, rule, utc("2025-01-06 08:00"), utc("2025-01-06 12:00"))
    # billing: 9 in 11:00-11:15 against 2 in each of the 8 quarters before: 9 ≥ max(3 × 2, 5).
    # tech: 4 against 1 is four times, but under min_count. At 08:15 the baseline windows lie
    # before the first case: unknown, so nothing fires at the start of the data.
    assert found[["group", "fired_at", "resolved_at", "peak_value"]].values.tolist() == [
        ["category=billing", utc("2025-01-06 11:15"), utc("2025-01-06 11:30"), 9.0]
    ]
    assert found["threshold"].tolist() == [6.0]
    assert "4.5×" in found["summary_en"].iloc[0] and "4.5倍" in found["summary_zh"].iloc[0]
